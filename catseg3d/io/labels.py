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
