"""Regions of a set of image patches, and cross-validation folds that keep each region whole.

Patches cut from neighbouring slices of one tomogram are nearly the same image: scoring a model on
one of them after training on another measures recall, not generalisation. Two patches belong to
the same region when their normalised cross-correlation (NCC) exceeds a threshold, and regions are
the connected components of that relation (so a chain of neighbouring slices forms one region).

On the 60 annotated patches of Genc et al. (2022) no pair of patches has an NCC between 0.79 and
0.87 (neighbouring slices of one region: 0.87-0.99; the most similar patch of another region: at
most 0.79). :data:`REGION_NCC_THRESHOLD` = 0.8 sits in that gap and gives 24 regions of 1 to 6
patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REGION_NCC_THRESHOLD = 0.8


def _standardised(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The central ``shape`` crop of ``image``, zero mean and unit standard deviation, flattened
    (all zeros for a constant image)."""
    start = [(s - c) // 2 for s, c in zip(image.shape, shape)]
    crop = np.asarray(image, dtype=np.float64)[tuple(slice(b, b + c) for b, c in zip(start, shape))].ravel()
    crop = crop - crop.mean()
    std = crop.std()
    return crop / std if std > 0 else crop


def normalised_cross_correlation(images: Sequence[np.ndarray],
                                 others: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The ``(n, m)`` matrix of normalised cross-correlations (Pearson correlation of pixel values,
    -1 to 1, no shift) between ``n`` images and ``m`` others (``others=None``: the images
    themselves, ``(n, n)``), all of one dimensionality.

    Images of different shapes are compared over their central crops of the smallest common shape.
    A constant image correlates 0 with everything, itself included.

    Raises:
        ValueError: no images, or images of different dimensionality.
    """
    both = [*images, *(others if others is not None else [])]
    if not len(images) or (others is not None and not len(others)):
        raise ValueError("no images to compare")
    if len({np.ndim(image) for image in both}) != 1:
        raise ValueError("images of different dimensionality cannot be compared")
    shape = tuple(np.min([np.shape(image) for image in both], axis=0))
    first = np.stack([_standardised(image, shape) for image in images])
    second = first if others is None else np.stack([_standardised(image, shape) for image in others])
    return first @ second.T / first.shape[1]


def similarity_regions(images: Sequence[np.ndarray], threshold: float = REGION_NCC_THRESHOLD) -> np.ndarray:
    """Region index of each image: images linked by NCC above ``threshold``
    (:func:`normalised_cross_correlation`), directly or through a chain of others, share a region.

    Returns:
        ``(n,)`` int array; regions are numbered 0, 1, ... in order of their first image.
    """
    from scipy.sparse.csgraph import connected_components

    linked = normalised_cross_correlation(images) > threshold
    _, labels = connected_components(linked, directed=False)
    first_seen = {}
    for label in labels.tolist():
        first_seen.setdefault(label, len(first_seen))
    return np.array([first_seen[label] for label in labels.tolist()], dtype=int)


def grouped_folds(regions: Sequence[int], folds: int) -> np.ndarray:
    """Fold index of each item such that every region lies whole in one fold, balanced by item count.

    Regions are placed largest first (ties: lower region index first), each into the fold that holds
    the fewest items so far (ties: lower fold index), so the result depends on ``regions`` alone.

    Returns:
        ``(n,)`` int array of fold indices in ``0 .. folds - 1``.

    Raises:
        ValueError: ``folds < 2`` or more folds than regions.
    """
    regions = np.asarray(regions, dtype=int)
    names, sizes = np.unique(regions, return_counts=True)
    if not 2 <= folds <= len(names):
        raise ValueError(f"need 2 to {len(names)} folds for {len(names)} regions, got {folds}")
    fill = np.zeros(folds, dtype=int)
    fold_of_region = {}
    for index in sorted(range(len(names)), key=lambda i: (-sizes[i], names[i])):
        target = int(np.argmin(fill))  # argmin takes the first of equal counts
        fold_of_region[int(names[index])] = target
        fill[target] += sizes[index]
    return np.array([fold_of_region[int(r)] for r in regions], dtype=int)
