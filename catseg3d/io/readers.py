"""Read tomograms and images of any supported format into a :class:`Volume`.

Supported inputs and where the voxel size comes from:

============================  ===============================================================
input                         voxel size
============================  ===============================================================
``.tif``/``.tiff`` (2D or     ImageJ calibration (``unit`` nm, micron or Angstrom and the
multi-page stack)             resolution tags, ``spacing`` for z) if present
folder of ``.tif`` slices     as for one TIFF, from the first slice, isotropic
(natural name order)
``.png`` (2D, 8 or 16 bit;    none: PNG holds no trustworthy pixel size, so ``spacing`` must be
grey, or RGB with equal       given
channels), or a folder of
``.png`` slices
``.mrc``/``.rec``/``.st``/    the header's voxel size (Angstrom), unless it is 0
``.ali``/``.map``
``.nii``/``.nii.gz``          ``pixdim`` with the header's unit (see :mod:`catseg3d.io.nifti`)
``.nrrd``/``.nhdr``/``.mha``/ SimpleITK spacing, taken as nm
``.mhd``
``.dm3``/``.dm4`` (Gatan),    the axis calibrations (nm, um, Angstrom, pm or m) if every axis
``.emd`` (Velox, NCEM)        has one (see :mod:`catseg3d.io.microscope`; tilt series refused)
============================  ===============================================================

An explicit ``spacing`` always wins. If neither the file nor the caller gives one, reading
fails rather than guessing, so that physical units can never be lost.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from catseg3d.io.errors import InputError
from catseg3d.io.microscope import MICROSCOPE_SUFFIXES, read_microscope_volume
from catseg3d.io.nifti import nifti_affine_nm, nifti_array, nifti_suffix, open_nifti
from catseg3d.io.volume import Volume, exact_decimal

TIFF_SUFFIXES = (".tif", ".tiff")
PNG_SUFFIXES = (".png",)
MRC_SUFFIXES = (".mrc", ".rec", ".st", ".ali", ".map")
SITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
# ImageJ calibration units (compared in lower case) -> nm
NM_PER_IMAGEJ_UNIT = {"nm": 1.0, "nanometer": 1.0, "micron": 1e3, "um": 1e3, "\u00b5m": 1e3,
                      "\\u00b5m": 1e3, "a": 0.1, "\u00e5": 0.1, "\\u00c5": 0.1, "\\u00e5": 0.1, "angstrom": 0.1}


def natural_key(name: str) -> list:
    """Sort key that orders ``slice_2`` before ``slice_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_slice_files(folder: str | os.PathLike, suffixes: Sequence[str] = TIFF_SUFFIXES) -> list[Path]:
    """The files of ``folder`` with one of ``suffixes`` (default ``.tif``/``.tiff``) in natural name order."""
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in suffixes and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def _png_has_transparency_key(file) -> bool:
    """Whether an open PNG file (binary) has a ``tRNS`` chunk, which comes before the image data:
    a grey level, colour or palette entries drawn transparent."""
    file.seek(8)
    while True:
        head = file.read(8)  # chunk length (4, big-endian) and type (4)
        if len(head) < 8 or head[4:] in (b"IDAT", b"IEND"):
            return False
        if head[4:] == b"tRNS":
            return True
        file.seek(int.from_bytes(head[:4], "big") + 4, 1)  # the chunk's data and its CRC


def _read_png(path: Path) -> tuple[np.ndarray, None]:
    """A PNG as a 2D grey array ``(y, x)``: grey as stored (8 or 16 bit), grey + alpha and RGB(A)
    only where alpha is opaque everywhere and, for RGB, the three channels are equal; none with a
    transparency key (``tRNS``). No spacing."""
    from skimage.io import imread

    try:
        with open(path, "rb") as file:
            header = file.read(26)  # signature (8), IHDR length and type (8), width, height, depth, colour type
            if len(header) < 26 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
                raise ValueError("not a PNG file")
            if _png_has_transparency_key(file):
                raise InputError(path, "PNG has a transparency key (tRNS): some grey values mean transparent; "
                                       "save it without transparency")
        bit_depth, colour_type = header[24], header[25]
        if bit_depth == 16 and colour_type != 0:  # Pillow reads 16-bit colour or grey + alpha as 8 bits
            raise InputError(path, "16-bit PNG with colour or transparency would be read as 8 bits; save it as "
                                   "16-bit grey (or TIFF)")
        array = np.asarray(imread(path))
    except InputError:
        raise
    except Exception as error:
        raise InputError(path, f"cannot read PNG ({error})") from error
    if array.ndim == 3 and array.shape[-1] in (2, 4):
        if not (array[..., -1] == np.iinfo(array.dtype).max).all():
            raise InputError(path, "PNG has transparent pixels; expected a grey image")
        array = array[..., :-1]
    if array.ndim == 3 and array.shape[-1] == 3:
        if not ((array[..., 0] == array[..., 1]) & (array[..., 1] == array[..., 2])).all():
            raise InputError(path, "PNG is in colour; expected a grey image (or RGB with equal channels)")
        array = array[..., 0]
    elif array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise InputError(path, f"expected a 2D grey PNG, got shape {array.shape}")
    return np.ascontiguousarray(array), None


def _tiff_calibration_nm(tif, path) -> tuple[float, float, float | None] | None:
    """``(y, x, z)`` pixel size in nm from ImageJ metadata, or None if uncalibrated.

    ImageJ writes ``spacing`` only when the slice distance is not 1 unit, so a missing ``spacing``
    means 1 unit.
    """
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
    z = float(metadata.get("spacing", 1.0))
    return sizes[0], sizes[1], float(f"{z * scale:.10g}")


def _check_tiff_complete(tif, path: Path) -> None:
    """Refuse a TIFF whose pages or pixel data do not all lie inside the file (a truncated copy):
    every page's IFD is parsed, every strip or tile must end inside the file, and an ImageJ stack
    must hold as many images as its header lists.

    Raises:
        InputError: naming what is missing.
    """
    size = path.stat().st_size
    pages = 0
    for page in tif.pages:
        pages += 1
        if any(offset + count > size for offset, count in zip(page.dataoffsets, page.databytecounts)):
            raise InputError(path, f"truncated TIFF: the data of page {pages} ends beyond the file's {size} bytes")
    series = tif.series[0]
    if series.dataoffset is not None and series.dataoffset + series.nbytes > size:
        raise InputError(path, f"truncated TIFF: the image data ends beyond the file's {size} bytes")
    listed = (tif.imagej_metadata or {}).get("images", 1) if tif.is_imagej else 1
    held = int(np.prod(series.shape[:-2])) if len(series.shape) > 2 else 1
    if listed > held:
        raise InputError(path, f"truncated TIFF: the ImageJ header lists {listed} images, the file holds {held}")


class _TiffWarnings(logging.Handler):
    """Collects what tifffile logs while one file is read (it logs, rather than raises, a page chain
    that points beyond the end of the file)."""

    DAMAGE = ("invalid page offset", "corrupted", "truncated", "beyond")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def damage(self) -> str | None:
        return next((m for m in self.messages if any(word in m for word in self.DAMAGE)), None)


def _read_tiff(path: Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    import tifffile

    logger, warnings = logging.getLogger("tifffile"), _TiffWarnings()
    propagate = logger.propagate
    logger.addHandler(warnings)
    logger.propagate = False  # reported once, as an InputError, not as log lines on stderr
    try:
        with tifffile.TiffFile(path) as tif:
            if "S" in tif.series[0].axes:
                raise InputError(path, f"colour image (axes {tif.series[0].axes}); expected grayscale")
            _check_tiff_complete(tif, path)
            if warnings.damage():
                raise InputError(path, f"damaged TIFF ({warnings.damage().split('>')[-1].strip()})")
            array = tif.asarray()
            calibration = _tiff_calibration_nm(tif, path)
    except InputError:
        raise
    except Exception as error:
        raise InputError(path, f"cannot read TIFF ({error})") from error
    finally:
        logger.removeHandler(warnings)
        logger.propagate = propagate
    array = np.squeeze(array)
    if array.ndim not in (2, 3):
        raise InputError(path, f"expected a grayscale image or stack, got shape {array.shape}")
    if calibration is None:
        return array, None
    y, x, z = calibration
    return array, ((y, x) if array.ndim == 2 else (z, y, x))


def _read_slice_folder(folder: Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """A folder of TIFF slices or of PNG slices (not both) stacked along ``z`` in natural name order."""
    tiffs, pngs = list_slice_files(folder), list_slice_files(folder, PNG_SUFFIXES)
    if tiffs and pngs:
        raise InputError(folder, f"folder holds both TIFF ({len(tiffs)}) and PNG ({len(pngs)}) files; "
                                 "expected slices of one format")
    if not tiffs and not pngs:
        raise InputError(folder, "folder holds no .tif/.tiff or .png files")
    files, read = (tiffs, _read_tiff) if tiffs else (pngs, _read_png)
    slices, spacing = [], None
    for index, file in enumerate(files):
        array, file_spacing = read(file)
        if array.ndim != 2:
            raise InputError(file, f"expected a 2D slice, got shape {array.shape}")
        if slices and (array.shape, array.dtype) != (slices[0].shape, slices[0].dtype):
            raise InputError(file, f"slice is {array.shape} {array.dtype}, the first slice "
                                   f"is {slices[0].shape} {slices[0].dtype}")
        if index == 0 and file_spacing is not None:
            spacing = (file_spacing[1], *file_spacing)
        slices.append(array)
    return np.stack(slices), spacing


def open_mrc(path: str | os.PathLike):
    """Open an MRC file memory-mapped, without reading its data: the one MRC reader, behind both
    :func:`read_volume` and :func:`catseg3d.io.slabs.open_slabs`.

    Returns:
        ``(mrc, spacing)``: the open ``mrcfile`` object (``mrc.data`` in ``(z, y, x)`` or ``(y, x)``
        order; close it when done) and the voxel size in nm, or None if the header holds none.

    Raises:
        InputError: unreadable, truncated, or not 2D or 3D.
    """
    import mrcfile

    try:
        mrc = mrcfile.mmap(path, mode="r", permissive=False)
    except Exception as error:
        raise InputError(path, f"cannot read MRC ({error})") from error
    if mrc.data.ndim not in (2, 3):
        shape = mrc.data.shape
        mrc.close()
        raise InputError(path, f"expected a 2D or 3D MRC, got shape {shape}")
    return mrc, mrc_spacing_nm(mrc.header, mrc.data.ndim)


IMOD_STAMP = 1146047817  # the header's imodStamp ("IMOD") at byte 152, imodFlags at byte 156


def mrc_data(mrc) -> np.ndarray:
    """The data of an open ``mrcfile`` object, 8-bit data as IMOD wrote it.

    Mode 0 is signed bytes in MRC2014, which ``mrcfile`` follows; IMOD writes unsigned bytes and
    says so in its header (imodStamp set, bit 0 of imodFlags clear). Such data is viewed as uint8.
    """
    data = mrc.data
    if data.dtype == np.int8:
        extra = mrc.header.extra2.tobytes()  # header bytes 112-195
        stamp, flags = np.frombuffer(extra[40:48], dtype=mrc.header.mode.dtype)  # the file's byte order
        if stamp == IMOD_STAMP and not flags & 1:
            return data.view(np.uint8)
    return data


def _read_mrc(path: Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    mrc, spacing = open_mrc(path)
    with mrc:
        return np.array(mrc_data(mrc)), spacing


def mrc_spacing_nm(header, ndim: int) -> tuple[float, ...] | None:
    """``(z, y, x)`` (or ``(y, x)``) voxel size in nm of an MRC header (cell size ``cella`` in
    Angstrom over the sampling ``mx, my, mz``), or None if the header holds none (zeros).

    Each float32 cell length is first taken back to its shortest decimal, so a 1.2 Angstrom voxel
    in a 6-voxel cell (stored 7.2) reads 0.12 nm, not float32's 7.2 / 6 = 0.11999999.
    """
    cell = (float(header.cella.z), float(header.cella.y), float(header.cella.x))
    sampling = (int(header.mz), int(header.my), int(header.mx))
    if not all(c > 0 for c in cell) or not all(n > 0 for n in sampling):
        return None
    spacing = tuple(float(f"{exact_decimal(c) / n / 10:.10g}") for c, n in zip(cell, sampling, strict=True))
    return spacing[-ndim:]


def _read_sitk(path: Path) -> tuple[np.ndarray, tuple[float, ...], np.ndarray]:
    """Array ``(z, y, x)`` or ``(y, x)``, spacing (numpy order) and the NIfTI affine of an
    NRRD/MHA file: ITK's origin and direction, from ITK's LPS to NIfTI's RAS world axes."""
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except Exception as error:
        raise InputError(path, f"cannot read image ({str(error).strip().splitlines()[-1]})") from error
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, "expected a scalar image, got a vector image")
    array = sitk.GetArrayFromImage(image)
    spacing = tuple(exact_decimal(s) for s in reversed(image.GetSpacing()))
    ndim = image.GetDimension()
    linear = np.eye(3)
    linear[:ndim, :ndim] = np.reshape(image.GetDirection(), (ndim, ndim)) * np.array(spacing[::-1])
    affine = np.eye(4)
    affine[:3, :3], affine[:ndim, 3] = linear, image.GetOrigin()
    return array, spacing, np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def per_axis(spacing: float | Sequence[float], ndim: int, path) -> tuple[float, ...]:
    """One spacing value per axis from one value (isotropic) or ``ndim`` values.

    Raises:
        InputError: another number of values, or a value that is not positive and finite.
    """
    values = [float(spacing)] if np.isscalar(spacing) else [float(s) for s in spacing]
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim:
        raise InputError(path, f"{len(values)} spacing values given for a {ndim}D image")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(path, f"spacing must be positive, got {values}")
    return tuple(values)


def read_volume(path: str | os.PathLike, spacing: float | Sequence[float] | None = None,
                fallback_spacing: float | Sequence[float] | None = None) -> Volume:
    """Read an image, stack or volume in any supported format.

    Args:
        path: a file or a folder of TIFF or PNG slices (see the module docstring for formats).
        spacing: voxel size in nm overriding the file's: one value (isotropic) or one per array
            axis in ``(z, y, x)`` order.
        fallback_spacing: voxel size in nm (like ``spacing``) used only if the file holds none.

    Returns:
        A :class:`Volume` with a ``(y, x)`` or ``(z, y, x)`` array and its spacing in nm; the
        affine of a NIfTI, NRRD or MHA file too, unless ``spacing`` overrides the file's.

    Raises:
        InputError: unreadable or unsupported input, or no voxel size in the file or the call.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    suffix = path.suffix.lower()
    affine = None  # for formats that place the voxels in space (NIfTI, NRRD, MHA)
    if path.is_dir():
        array, file_spacing = _read_slice_folder(path)
    elif suffix in TIFF_SUFFIXES:
        array, file_spacing = _read_tiff(path)
    elif suffix in PNG_SUFFIXES:
        array, file_spacing = _read_png(path)
    elif suffix in MRC_SUFFIXES:
        array, file_spacing = _read_mrc(path)
    elif nifti_suffix(path):
        data, ndim, file_spacing, header = open_nifti(path)
        array, affine = nifti_array(data, ndim), nifti_affine_nm(header)
    elif suffix in SITK_SUFFIXES:
        array, file_spacing, affine = _read_sitk(path)
    elif suffix in MICROSCOPE_SUFFIXES:
        array, file_spacing = read_microscope_volume(path)
    else:
        raise InputError(path, f"unsupported format '{suffix}' (expected TIFF, PNG, a folder of TIFF "
                               "or PNG slices, MRC/REC, NIfTI, NRRD, MHA, DM3/DM4 or EMD)")
    if spacing is not None:
        file_spacing, affine = per_axis(spacing, array.ndim, path), None  # the file's geometry no longer holds
    if file_spacing is None and fallback_spacing is not None:
        file_spacing = per_axis(fallback_spacing, array.ndim, path)
    if file_spacing is None:
        raise InputError(path, "the file holds no voxel size; pass --spacing NM")
    try:
        return Volume(array, file_spacing, affine)
    except ValueError as error:
        raise InputError(path, str(error)) from error
