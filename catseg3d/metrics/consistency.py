"""Label-free consistency of a 3D label map: how often the label changes between neighbouring slices.

A model applied slice by slice sees each slice alone, so its labels can flicker from one slice to
the next where the structure does not change. Counting the voxels whose label differs from their
neighbour one voxel further along each axis measures that without any ground truth: along the
stacking axis the count of a consistent segmentation is of the same order as across the slices
(for structures without a preferred direction), and equal to the truth's where a truth exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SliceChanges:
    """Fractions of neighbouring voxel pairs with different labels, per axis of a ``(z, y, x)`` volume.

    Attributes:
        z, y, x: pairs ``(i, i + 1)`` along that axis whose labels differ, divided by all such pairs.
    """

    z: float
    y: float
    x: float

    def along(self, axis: str) -> float:
        return {"z": self.z, "y": self.y, "x": self.x}[axis]

    def stack_ratio(self, axis: str = "z") -> float | None:
        """Changes along ``axis`` over the mean of the other two axes' (None where those are 0)."""
        across = float(np.mean([self.along(a) for a in "zyx" if a != axis]))
        return self.along(axis) / across if across else None


def slice_changes(labels: np.ndarray, label: int | None = None) -> SliceChanges:
    """How often the label changes between neighbouring voxels along each axis.

    Args:
        labels: a ``(z, y, x)`` label map, at least 2 voxels along every axis.
        label: count only pairs where one of the two voxels is this class (a class's boundary
            density); None: any change of label.

    Returns:
        The fractions per axis (dimensionless; independent of the voxel size).

    Raises:
        ValueError: ``labels`` is not 3D or is 1 voxel thick along an axis.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3 or min(labels.shape) < 2:
        raise ValueError(f"need a (z, y, x) volume at least 2 voxels along each axis, got shape {labels.shape}")
    fractions = []
    depth = labels.shape[0]
    for axis in range(3):
        changes, pairs = 0, 0
        for z in range(0, depth - 1 if axis == 0 else depth, 64):  # 64 slices at a time: bounded memory
            if axis == 0:
                first, second = labels[z:min(z + 64, depth - 1)], labels[z + 1:min(z + 65, depth)]
            else:
                block = labels[z:z + 64]
                first, second = (block[:, :-1], block[:, 1:]) if axis == 1 else (block[:, :, :-1], block[:, :, 1:])
            changed = first != second
            if label is not None:
                changed &= (first == label) | (second == label)
            changes += int(np.count_nonzero(changed))
            pairs += changed.size
        fractions.append(changes / pairs)
    return SliceChanges(*fractions)
