"""The one in-memory image type: an array with its voxel spacing in nanometres and, where the file
had one, its position in space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Volume:
    """An image or volume and its physical voxel size.

    Attributes:
        array: ``(y, x)`` for one image or ``(z, y, x)`` for a stack or volume, numpy axis order
            (slices along axis 0, rows along axis 1, columns along axis 2).
        spacing: voxel size in nanometres, one value per array axis, in the same order.
        affine: where the file placed the voxels in space, as a NIfTI ``4 x 4`` affine: voxel
            index ``(x, y, z)`` (the reversed array axes; ``z`` = 0 for an image) to position in
            nm. Its first columns' lengths are ``spacing`` (reversed). None: the voxels start at the
            origin along the axes, ``diag(spacing reversed)``, as for formats without a position.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.array.ndim not in (2, 3):
            raise ValueError(f"expected a 2D (y, x) or 3D (z, y, x) array, got shape {self.array.shape}")
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != self.array.ndim:
            raise ValueError(f"spacing {spacing} has {len(spacing)} values for a {self.array.ndim}D array")
        if not all(np.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(f"spacing must be positive and finite, got {spacing}")
        object.__setattr__(self, "spacing", spacing)
        if self.affine is not None:
            affine = np.array(self.affine, dtype=np.float64)
            if affine.shape != (4, 4) or not np.isfinite(affine).all():
                raise ValueError(f"affine must be a finite 4 x 4 matrix, got {affine.shape}")
            lengths = np.linalg.norm(affine[:3, :len(spacing)], axis=0)
            if not np.allclose(lengths, spacing[::-1], rtol=1e-4):
                raise ValueError(f"affine voxel sizes {tuple(lengths.round(6))} (x, y[, z]) disagree with the "
                                 f"spacing {spacing} (numpy order)")
            object.__setattr__(self, "affine", affine)


def placed_volume(array: np.ndarray, spacing, affine: np.ndarray | None) -> Volume:
    """A :class:`Volume` at the file's position, or at the origin (``affine`` dropped) where the
    affine's voxel sizes are not the spacing's (a header whose sform and pixdim disagree)."""
    try:
        return Volume(array, spacing, affine)
    except ValueError:
        return Volume(array, spacing)


UNIT_RATIOS = (1e3, 1e6, 1e9)  # nm, micron, mm and metre apart


def unit_factor(spacing: Sequence[float], reference: Sequence[float]) -> float | None:
    """The factor ``spacing / reference`` where it is the same on every axis and one of
    :data:`UNIT_RATIOS` (``reference``'s numbers under another unit code), else None."""
    spacing, reference = np.asarray(spacing, dtype=float), np.asarray(reference, dtype=float)
    if spacing.shape != reference.shape:
        return None
    return next((r for r in UNIT_RATIOS if np.allclose(spacing / reference, r, rtol=1e-4)), None)


def is_unit_default(spacing: Sequence[float], reference: Sequence[float]) -> bool:
    """Whether every voxel size is exactly one micron, mm or metre (in nm), what ITK-based editors
    write for an image that held no voxel size (spacing 1 under the unit code mm), and larger than
    every size of ``reference`` (the image it belongs to)."""
    return (len(spacing) == len(reference) and max(reference) < min(spacing)
            and any(np.allclose(spacing, r, rtol=1e-6) for r in UNIT_RATIOS))


def spacing_of_image(spacing: Sequence[float], image_spacing: Sequence[float]) -> tuple[float, ...]:
    """The voxel size of a file that belongs to an image (its labels): the image's where the
    file's is the image's under another unit code (:func:`unit_factor`, :func:`is_unit_default`),
    else its own."""
    if unit_factor(spacing, image_spacing) is not None or is_unit_default(spacing, image_spacing):
        return tuple(float(s) for s in image_spacing)
    return tuple(float(s) for s in spacing)


def agree_on_units(*volumes: Volume) -> list[Volume]:
    """Volumes of one image (an image, its labels, a prediction) with their voxel sizes in one unit.

    ITK-based editors (ITK-SNAP, 3D Slicer, SimpleITK) save NIfTI with the unit code mm whatever
    unit the numbers they read meant, so a label file saved there holds its image's 0.12 as
    0.12 mm, and 1 mm where the image held no voxel size. Where volumes of one shape hold the same
    numbers 10^3, 10^6 or 10^9 apart (:func:`unit_factor`), or one of them holds exactly one
    micron, mm or metre (:func:`is_unit_default`), the larger sizes are that unit code: every such
    volume takes the smallest size, its affine rescaled (dropped for a default size). Any other
    difference is left for the caller to refuse.

    Returns:
        The volumes in the order given.
    """
    volumes = list(volumes)
    smallest = min(volumes, key=lambda v: max(v.spacing))
    for k, volume in enumerate(volumes):
        if volume.array.shape != smallest.array.shape or volume is smallest:
            continue
        factor = unit_factor(volume.spacing, smallest.spacing)
        if factor is not None:
            affine = None if volume.affine is None else np.diag([1 / factor] * 3 + [1.0]) @ volume.affine
            volumes[k] = placed_volume(volume.array, smallest.spacing, affine)
        elif is_unit_default(volume.spacing, smallest.spacing):
            volumes[k] = Volume(volume.array, smallest.spacing)
    return volumes


def exact_decimal(value: float) -> float:
    """The shortest decimal that a float32-stored ``value`` came from (float32 0.12 -> 0.12).

    File headers (NIfTI ``pixdim``, MRC voxel size) hold float32; this undoes the float32
    rounding for any value with at most 7 significant digits.
    """
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))
