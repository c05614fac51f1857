"""Read tomograms and images of any supported format into a :class:`Volume`.

Supported inputs and where the voxel size comes from:

============================  ===============================================================
input                         voxel size
============================  ===============================================================
``.tif``/``.tiff`` (2D or     ImageJ calibration (``unit`` nm, micron or Angstrom and the
multi-page stack)             resolution tags, ``spacing`` for z) if present
folder of ``.tif`` slices     as for one TIFF, from the first slice, isotropic
(natural name order)
``.mrc``/``.rec``/``.st``/    the header's voxel size (Angstrom), unless it is 0
``.ali``/``.map``
``.nii``/``.nii.gz``          ``pixdim`` with the header's unit (see :mod:`catseg3d.io.nifti`)
``.nrrd``/``.nhdr``/``.mha``/ SimpleITK spacing, taken as nm
``.mhd``
============================  ===============================================================

An explicit ``spacing`` always wins. If neither the file nor the caller gives one, reading
fails rather than guessing, so that physical units can never be lost.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from catseg3d.io.errors import InputError
from catseg3d.io.nifti import nifti_suffix, read_nifti
from catseg3d.io.volume import Volume, exact_decimal

TIFF_SUFFIXES = (".tif", ".tiff")
MRC_SUFFIXES = (".mrc", ".rec", ".st", ".ali", ".map")
SITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
NM_PER_IMAGEJ_UNIT = {"nm": 1.0, "nanometer": 1.0, "micron": 1e3, "um": 1e3, "\u00b5m": 1e3,
                      "\\u00b5m": 1e3, "a": 0.1, "\u00c5": 0.1, "angstrom": 0.1}


def natural_key(name: str) -> list:
    """Sort key that orders ``slice_2`` before ``slice_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_tiff_slices(folder: str | os.PathLike) -> list[Path]:
    """The ``.tif``/``.tiff`` files of ``folder`` in natural name order."""
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in TIFF_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def _tiff_calibration_nm(tif, path) -> tuple[float, float, float | None] | None:
    """``(y, x, z-or-None)`` pixel size in nm from ImageJ metadata, or None if uncalibrated."""
    metadata = tif.imagej_metadata or {}
    unit = str(metadata.get("unit", "")).strip().lower()
    if unit not in NM_PER_IMAGEJ_UNIT:
        return None
    scale = NM_PER_IMAGEJ_UNIT[unit]
    tags = tif.pages.first.tags
    sizes = []
    for name in ("YResolution", "XResolution"):
        tag = tags.get(name)
        if tag is None:
            return None
        numerator, denominator = tag.value
        if numerator == 0:
            raise InputError(path, f"{name} is zero")
        sizes.append(float(f"{denominator / numerator * scale:.10g}"))
    z = metadata.get("spacing")
    return sizes[0], sizes[1], (float(f"{float(z) * scale:.10g}") if z is not None else None)


def _read_tiff(path: Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            array = tif.asarray()
            calibration = _tiff_calibration_nm(tif, path)
    except InputError:
        raise
    except Exception as error:
        raise InputError(path, f"cannot read TIFF ({error})") from error
    array = np.squeeze(array)
    if array.ndim not in (2, 3):
        raise InputError(path, f"expected a grayscale image or stack, got shape {array.shape}")
    if calibration is None:
        return array, None
    y, x, z = calibration
    if array.ndim == 2:
        return array, (y, x)
    return array, (z if z is not None else x, y, x)


def _read_tiff_folder(folder: Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    files = list_tiff_slices(folder)
    if not files:
        raise InputError(folder, "folder holds no .tif/.tiff files")
    slices, spacing = [], None
    for index, file in enumerate(files):
        array, file_spacing = _read_tiff(file)
        if array.ndim != 2:
            raise InputError(file, f"expected a 2D slice, got shape {array.shape}")
        if slices and (array.shape, array.dtype) != (slices[0].shape, slices[0].dtype):
            raise InputError(file, f"slice is {array.shape} {array.dtype}, the first slice "
                                   f"is {slices[0].shape} {slices[0].dtype}")
        if index == 0 and file_spacing is not None:
            spacing = (file_spacing[1], *file_spacing)
        slices.append(array)
    return np.stack(slices), spacing


def _read_mrc(path: Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    import mrcfile

    try:
        with mrcfile.open(path, mode="r", permissive=False) as mrc:
            array = np.array(mrc.data)
            voxel = mrc.voxel_size
    except Exception as error:
        raise InputError(path, f"cannot read MRC ({error})") from error
    if array.ndim not in (2, 3):
        raise InputError(path, f"expected a 2D or 3D MRC, got shape {array.shape}")
    zyx_angstrom = (float(voxel.z), float(voxel.y), float(voxel.x))
    if not all(v > 0 for v in zyx_angstrom):
        return array, None
    spacing = tuple(float(f"{exact_decimal(v) / 10:.10g}") for v in zyx_angstrom)
    return array, spacing[-array.ndim:]


def _read_sitk(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except Exception as error:
        raise InputError(path, f"cannot read image ({str(error).strip().splitlines()[-1]})") from error
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, "expected a scalar image, got a vector image")
    array = sitk.GetArrayFromImage(image)
    return array, tuple(exact_decimal(s) for s in reversed(image.GetSpacing()))


def read_volume(path: str | os.PathLike, spacing: float | Sequence[float] | None = None,
                fallback_spacing: Sequence[float] | None = None) -> Volume:
    """Read an image, stack or volume in any supported format.

    Args:
        path: a file or a folder of TIFF slices (see the module docstring for formats).
        spacing: voxel size in nm overriding the file's: one value (isotropic) or one per array
            axis in ``(z, y, x)`` order.
        fallback_spacing: voxel size in nm per array axis used only if the file holds none.

    Returns:
        A :class:`Volume` with a ``(y, x)`` or ``(z, y, x)`` array and its spacing in nm.

    Raises:
        InputError: unreadable or unsupported input, or no voxel size in the file or the call.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    suffix = path.suffix.lower()
    if path.is_dir():
        array, file_spacing = _read_tiff_folder(path)
    elif suffix in TIFF_SUFFIXES:
        array, file_spacing = _read_tiff(path)
    elif suffix in MRC_SUFFIXES:
        array, file_spacing = _read_mrc(path)
    elif nifti_suffix(path):
        volume = read_nifti(path)
        array, file_spacing = volume.array, volume.spacing
    elif suffix in SITK_SUFFIXES:
        array, file_spacing = _read_sitk(path)
    else:
        raise InputError(path, f"unsupported format '{suffix}' (expected TIFF, a folder of TIFF "
                               "slices, MRC/REC, NIfTI, NRRD or MHA)")
    if spacing is not None:
        values = [float(spacing)] if np.isscalar(spacing) else [float(s) for s in spacing]
        if len(values) == 1:
            values = values * array.ndim
        if len(values) != array.ndim:
            raise InputError(path, f"{len(values)} spacing values given for a {array.ndim}D image")
        file_spacing = tuple(values)
    if file_spacing is None:
        file_spacing = fallback_spacing
    if file_spacing is None:
        raise InputError(path, "the file holds no voxel size; pass --spacing NM")
    try:
        return Volume(array, file_spacing)
    except ValueError as error:
        raise InputError(path, str(error)) from error
