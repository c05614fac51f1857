"""The one place where catseg3d's axis order meets MONAI's.

catseg3d holds arrays in numpy order, ``(y, x)`` for a slice and ``(z, y, x)`` for a volume, with
the voxel size in nm in the same order. MONAI loads a NIfTI file with its spatial axes in the
file's order, ``(x, y)`` or ``(x, y, z)``, and keeps the voxel size in ``pixdim`` in that order
(in the file's unit; :func:`catseg3d.io.nifti.loaded_spacing_nm` turns it into nm). The
conversion is a reversal of the spatial axes, the same in both directions; these functions are
the only code that performs it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def to_monai(array: np.ndarray) -> np.ndarray:
    """numpy ``(y, x)`` / ``(z, y, x)`` -> MONAI ``(x, y)`` / ``(x, y, z)`` (a view)."""
    return np.transpose(array)


def from_monai(array: np.ndarray) -> np.ndarray:
    """MONAI ``(x, y)`` / ``(x, y, z)`` -> numpy ``(y, x)`` / ``(z, y, x)`` (a view)."""
    return np.transpose(array)


def spacing_to_monai(spacing: Sequence[float]) -> tuple[float, ...]:
    """Voxel size in numpy order -> MONAI (NIfTI) order."""
    return tuple(float(s) for s in reversed(tuple(spacing)))


def spacing_from_monai(spacing: Sequence[float]) -> tuple[float, ...]:
    """Voxel size in MONAI (NIfTI) order -> numpy order."""
    return tuple(float(s) for s in reversed(tuple(spacing)))


def batch_to_monai(slices: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Network input from numpy-order data: 2D, ``n`` slices ``(n, y, x)`` -> ``(n, 1, x, y)``;
    3D, one volume ``(z, y, x)`` -> ``(1, 1, x, y, z)``."""
    if spatial_dims == 2:
        return slices.transpose(1, 2)[:, None]
    return slices.permute(2, 1, 0)[None, None]


def batch_from_monai(output: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Network output back to numpy order: 2D ``(n, C, x, y)`` -> ``(n, C, y, x)``; 3D
    ``(1, C, x, y, z)`` -> ``(C, z, y, x)``."""
    if spatial_dims == 2:
        return output.transpose(2, 3)
    return output[0].permute(0, 3, 2, 1)
