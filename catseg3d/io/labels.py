"""Label images: class indices 0..C-1 per pixel, and 255 where a pixel is not labelled.

Sparse labels (a few slices of a tomogram, boxes or strokes within slices) mark every pixel that
carries no label with :data:`UNLABELLED`; the losses and the training metrics leave those pixels
out. Any editor that writes NIfTI or TIFF integer labels (ITK-SNAP, napari, Fiji) can write them.
"""

from __future__ import annotations

import numpy as np

UNLABELLED = 255


def labelled_mask(labels: np.ndarray) -> np.ndarray:
    """Boolean array of ``labels``' shape: True where a pixel carries a class, False where it is
    :data:`UNLABELLED`."""
    return np.asarray(labels) != UNLABELLED


def keep_slices(labels: np.ndarray, slices: dict[int, list[int]]) -> np.ndarray:
    """``labels`` in the given slices and :data:`UNLABELLED` everywhere else, uint8.

    Used to write labels to correct: ``segment``'s labels in a few slices, which a user fixes in an
    editor and gives to ``catseg3d finetune``.

    Args:
        labels: ``(z, y, x)`` class indices (at most 254 classes).
        slices: slice indices per axis (0 z, 1 y, 2 x), e.g. ``{0: [10, 50]}``.

    Raises:
        ValueError: no slice, an index outside the volume, or a class index of 255 or more.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"expected (z, y, x) labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= UNLABELLED):
        raise ValueError(f"class indices must lie in 0..{UNLABELLED - 1}, got {labels.min()}..{labels.max()}")
    if not any(slices.values()):
        raise ValueError("no slice to keep")
    keep = np.zeros(labels.shape, bool)
    for axis, indices in slices.items():
        for index in indices:
            if not 0 <= index < labels.shape[axis]:
                raise ValueError(f"slice {index} along {'zyx'[axis]} is outside 0..{labels.shape[axis] - 1}")
            np.moveaxis(keep, axis, 0)[index] = True
    return np.where(keep, labels, UNLABELLED).astype(np.uint8)


def keep_boxes(labels: np.ndarray, fraction: float = 0.10, box: int = 48, seed: int = 0) -> np.ndarray:
    """``labels`` inside square boxes and :data:`UNLABELLED` elsewhere, uint8: the sparse labels a
    user would draw by boxing examples of each class in turn.

    Each box is ``box`` pixels wide (clipped to fit the image), centred on a random pixel of the
    next class in turn (every class the image holds, lowest index first); boxes are added until at
    least ``fraction`` of the pixels are labelled.

    Args:
        labels: ``(y, x)`` class indices (:data:`UNLABELLED` pixels are never boxed as a class).
        fraction: labelled share of the pixels to reach, in (0, 1].
        box: box edge in pixels.
        seed: seeds the box centres.

    Raises:
        ValueError: not 2D, no labelled pixel, or ``fraction``/``box`` out of range.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"expected a 2D (y, x) label image, got shape {labels.shape}")
    if not 0 < fraction <= 1 or box < 1:
        raise ValueError(f"fraction must be in (0, 1] and box at least 1 pixel, got {fraction} and {box}")
    classes = [int(c) for c in np.unique(labels) if c != UNLABELLED]
    if not classes:
        raise ValueError("the label image has no labelled pixel")
    rng = np.random.default_rng(seed)
    keep = np.zeros(labels.shape, bool)
    edge_y, edge_x = min(box, labels.shape[0]), min(box, labels.shape[1])
    turn = 0
    while keep.mean() < fraction:
        ys, xs = np.nonzero(labels == classes[turn % len(classes)])
        i = int(rng.integers(len(ys)))
        y0 = int(np.clip(ys[i] - edge_y // 2, 0, labels.shape[0] - edge_y))
        x0 = int(np.clip(xs[i] - edge_x // 2, 0, labels.shape[1] - edge_x))
        keep[y0:y0 + edge_y, x0:x0 + edge_x] = True
        turn += 1
    return np.where(keep, labels, UNLABELLED).astype(np.uint8)
