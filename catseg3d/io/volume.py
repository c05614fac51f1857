"""The one in-memory image type: an array with its voxel spacing in nanometres."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Volume:
    """An image or volume and its physical voxel size.

    Attributes:
        array: ``(y, x)`` for one image or ``(z, y, x)`` for a stack or volume, numpy axis order
            (slices along axis 0, rows along axis 1, columns along axis 2).
        spacing: voxel size in nanometres, one value per array axis, in the same order.
    """

    array: np.ndarray
    spacing: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.array.ndim not in (2, 3):
            raise ValueError(f"expected a 2D (y, x) or 3D (z, y, x) array, got shape {self.array.shape}")
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != self.array.ndim:
            raise ValueError(f"spacing {spacing} has {len(spacing)} values for a {self.array.ndim}D array")
        if not all(np.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(f"spacing must be positive and finite, got {spacing}")
        object.__setattr__(self, "spacing", spacing)


def exact_decimal(value: float) -> float:
    """The shortest decimal that a float32-stored ``value`` came from (float32 0.12 -> 0.12).

    File headers (NIfTI ``pixdim``, MRC voxel size) hold float32; this undoes the float32
    rounding for any value with at most 7 significant digits.
    """
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))
