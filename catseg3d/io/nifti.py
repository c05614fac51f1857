"""NIfTI reading and writing with catseg3d's unit and axis conventions.

Conventions (every NIfTI file catseg3d writes follows them):

* **Units.** ``pixdim`` holds the voxel size in **nanometres** and the header's spatial unit is
  left "unknown" (NIfTI has no nanometre code), with ``descrip = "catseg3d spacing_unit=nm"``.
  nibabel, SimpleITK, ITK-SNAP and MONAI therefore all see the number 0.12 for a 0.12 nm voxel.
  Reading a file whose header says metre, mm or micron converts to nanometres. A file of another
  tool with the unit "unknown" is read in nm, unless every spatial ``pixdim`` is 1: that is the
  default of an uncalibrated header (``nib.Nifti1Image(array, np.eye(4))``), read as no voxel size.
  ITK-based tools (ITK-SNAP, 3D Slicer, SimpleITK) save every NIfTI with the unit code mm, also
  over the nm numbers of a file they read: such a file reads 10^6 times too large (as the header
  says); a label file beside its image is brought back by
  :func:`catseg3d.io.volume.agree_on_units`.
* **Axes.** A numpy ``(z, y, x)`` array is stored with NIfTI axes ``(i, j, k) = (x, y, z)``, the
  layout viewers and SimpleITK expect: ``sitk.GetArrayFromImage(sitk.ReadImage(f))`` returns the
  original ``(z, y, x)`` array. A 2D ``(y, x)`` image is stored as ``(x, y)``. MONAI's
  ``LoadImage`` reads the file in NIfTI order, ``(x, y[, z])``, with ``pixdim`` in that order.
* Files are written to a temporary name beside the target and renamed, so a failed write never
  leaves a partial file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np

from catseg3d.io.atomic import atomic_path
from catseg3d.io.axes import from_monai, spacing_from_monai, spacing_to_monai, to_monai
from catseg3d.io.errors import InputError
from catseg3d.io.volume import Volume, exact_decimal, placed_volume

DESCRIPTION = b"catseg3d spacing_unit=nm"
NM_PER_UNIT = {"unknown": 1.0, "meter": 1e9, "mm": 1e6, "micron": 1e3}


def nifti_suffix(path: str | os.PathLike) -> str:
    """``.nii.gz`` or ``.nii`` if ``path`` ends with one, else ``""``."""
    name = Path(path).name.lower()
    return next((s for s in (".nii.gz", ".nii") if name.endswith(s)), "")


def check_nifti_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> str:
    """The NIfTI suffix of an output path whose folder exists and that is none of ``inputs``.

    Raises:
        InputError: wrong suffix, missing folder, or the output is one of the inputs (it would
            be overwritten).
    """
    path = Path(path)
    suffix = nifti_suffix(path)
    if not suffix:
        raise InputError(path, "output must end in .nii or .nii.gz")
    if not path.parent.is_dir():
        raise InputError(path, f"output folder {path.parent} does not exist")
    for other in map(Path, inputs):
        if path.resolve() == other.resolve() or (path.exists() and other.exists() and os.path.samefile(path, other)):
            raise InputError(path, "is also an input of this command; write the output to another file")
    return suffix


def nifti_header(shape: Sequence[int], spacing: Sequence[float], dtype: np.dtype | type,
                 channels: int = 1, affine: np.ndarray | None = None) -> nib.Nifti1Header:
    """A NIfTI-1 header following the conventions above.

    Args:
        shape: numpy ``(y, x)`` or ``(z, y, x)`` shape of one channel.
        spacing: voxel size in nm, in the same order.
        dtype: the data type stored.
        channels: more than 1 adds a fourth NIfTI axis (``(x, y, z, c)``), e.g. one probability
            map per class.
        affine: the voxels' position and orientation (a :class:`Volume`'s ``affine``, in nm), kept
            as the qform and sform; None: ``diag(spacing)`` from the origin.
    """
    spacing_xyz = spacing_to_monai(spacing)
    shape_xyz = tuple(int(s) for s in spacing_to_monai(shape))
    if channels > 1:
        shape_xyz = (*shape_xyz, *([1] * (3 - len(shape_xyz))), channels)
    if affine is None:
        affine = np.diag([*spacing_xyz, *([1.0] * (3 - len(spacing_xyz))), 1.0])
    header = nib.Nifti1Header()
    header.set_data_shape(shape_xyz)
    header.set_data_dtype(dtype)
    header.set_xyzt_units(xyz="unknown")
    header.set_zooms((*spacing_xyz, *([1.0] * (len(shape_xyz) - len(spacing_xyz)))))
    header["descrip"] = DESCRIPTION
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    return header


def header_like(template: nib.Nifti1Header, dtype: np.dtype | type, channels: int = 1) -> nib.Nifti1Header:
    """A copy of an input's header (shape, affine, units, pixdim) for derived data of ``dtype``,
    with a fourth axis of ``channels`` if more than 1 and no intensity scaling."""
    header = nib.Nifti1Header.from_header(template)
    header.extensions.clear()
    if channels > 1:
        spatial, zooms = tuple(template.get_data_shape())[:3], tuple(template.get_zooms())[:3]
        pad = 3 - len(spatial)
        header.set_data_shape((*spatial, *(1,) * pad, channels))
        header.set_zooms((*zooms, *(1.0,) * pad, 1.0))
    header.set_data_dtype(dtype)
    header.set_slope_inter(None, None)
    return header


def write_nifti(volume: Volume, path: str | os.PathLike) -> Path:
    """Write ``volume`` to ``path`` (``.nii`` or ``.nii.gz``) atomically.

    Args:
        volume: ``(y, x)`` or ``(z, y, x)`` array with spacing in nm in the same order, and its
            affine if it has one (kept as the file's qform and sform, in nm).
        path: target file; its directory must exist.

    Returns:
        The path written.

    Raises:
        InputError: ``path`` does not end in ``.nii``/``.nii.gz`` or its folder does not exist.
    """
    path = Path(path)
    suffix = check_nifti_output(path)
    array = volume.array
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.float16:  # NIfTI-1 has no float16
        array = array.astype(np.float32)
    header = nifti_header(array.shape, volume.spacing, array.dtype, affine=volume.affine)
    image = nib.Nifti1Image(to_monai(array), None, header)
    with atomic_path(path, suffix=suffix) as tmp:
        nib.save(image, tmp)
    return path


def nifti_spatial_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """A NIfTI array's ``(x, y[, z, ...])`` shape without trailing singleton axes beyond the second
    (a 2D image stored as ``(x, y, 1)`` is ``(x, y)``)."""
    shape = tuple(int(s) for s in shape)
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


class NiftiZYX:
    """A NIfTI file's data seen in numpy ``(z, y, x)`` order and read in ``z`` ranges, through
    nibabel's array proxy (memory-mapped for ``.nii``; ``.nii.gz`` is decompressed as read).

    Attributes:
        shape: ``(z, y, x)``; a 2D image is one slice, ``(1, y, x)``.
        dtype: the type slices come in (after ``scl_slope``/``scl_inter``).
    """

    def __init__(self, path: Path, proxy, shape_xyz: tuple[int, ...]) -> None:
        self.path = path
        self.proxy = proxy
        self.shape = tuple(reversed(shape_xyz))
        self.dtype = self._read(np.s_[:1, :1, :1]).dtype

    def _read(self, index) -> np.ndarray:
        try:
            return np.asarray(self.proxy[index])
        except Exception as error:  # nibabel and gzip raise several types for a short file
            raise InputError(self.path, f"truncated or damaged NIfTI ({error})") from error

    def __getitem__(self, index: slice) -> np.ndarray:
        """``z`` slices ``index`` as a ``(n, y, x)`` array."""
        return from_monai(self._read(np.s_[:, :, index]))


def open_nifti(path: str | os.PathLike, keep_file_open: bool = False
               ) -> tuple[NiftiZYX, int, tuple[float, ...] | None, nib.Nifti1Header]:
    """Open a NIfTI file without reading its data: the one NIfTI reader, behind both
    :func:`read_nifti` and :func:`catseg3d.io.slabs.open_slabs`.

    Trailing singleton axes (a 2D image stored as ``(x, y, 1)``) are dropped.

    Returns:
        ``(data, ndim, spacing, header)``: the data in ``(z, y, x)`` order (``(1, y, x)`` for a 2D
        image), 2 or 3, the voxel size in nm (numpy order, ``ndim`` values; None for an
        uncalibrated file, :func:`nm_per_unit`) and the header.

    Raises:
        InputError: the file cannot be read, is shorter than its header says (``.nii``), or has
            more than three non-singleton axes.
    """
    path = Path(path)
    try:
        image = nib.load(str(path), keep_file_open=keep_file_open)
    except Exception as error:  # nibabel raises many types for a bad file
        raise InputError(path, f"cannot read NIfTI ({error})") from error
    shape = nifti_spatial_shape(image.shape)
    if len(shape) > 3:
        raise InputError(path, f"expected a 2D or 3D image, got shape {image.shape}")
    ndim = len(shape)
    expected = image.dataobj.offset + int(np.prod(image.shape)) * image.get_data_dtype().itemsize
    if nifti_suffix(path) == ".nii" and path.stat().st_size < expected:
        raise InputError(path, f"truncated NIfTI: {path.stat().st_size} bytes, the header needs {expected}")
    proxy = image.dataobj.reshape((*shape, 1) if ndim == 2 else shape)
    return NiftiZYX(path, proxy, tuple(proxy.shape)), ndim, nifti_spacing_nm(image.header, ndim), image.header


def read_nifti(path: str | os.PathLike) -> Volume:
    """Read a NIfTI file into a :class:`Volume` (numpy ``(z, y, x)`` or ``(y, x)`` order, nm).

    Trailing singleton axes (a 2D image stored as ``(x, y, 1)``) are dropped.

    Raises:
        InputError: see :func:`open_nifti`; also a file whose data is cut short, or an
            uncalibrated one (:func:`nm_per_unit`).
    """
    data, ndim, spacing, header = open_nifti(path)
    if spacing is None:
        raise InputError(path, "the file holds no voxel size (pixdim 1, unit unknown); pass --spacing NM")
    return placed_volume(nifti_array(data, ndim), spacing, nifti_affine_nm(header))


def nifti_array(data: NiftiZYX, ndim: int) -> np.ndarray:
    """All of an opened NIfTI file's data: ``(z, y, x)``, or ``(y, x)`` where ``ndim`` is 2."""
    array = data[0:data.shape[0]]
    return np.ascontiguousarray(array[0] if ndim == 2 else array)


def nm_per_unit(header: nib.Nifti1Header, ndim: int) -> float | None:
    """Nanometres per unit of the header's ``pixdim`` and affine, by the conventions above; None
    for an uncalibrated header (unit "unknown", every spatial ``pixdim`` of the ``ndim`` axes 1,
    not written by catseg3d)."""
    unit = header.get_xyzt_units()[0]
    if (unit == "unknown" and all(float(z) == 1.0 for z in header.get_zooms()[:ndim])
            and DESCRIPTION not in bytes(np.asarray(header["descrip"]).tobytes())):
        return None
    return NM_PER_UNIT.get(unit, 1.0)


def nifti_affine_nm(header: nib.Nifti1Header) -> np.ndarray | None:
    """The header's voxel-to-world affine (sform, else qform) with positions in nm; None where the
    file sets neither (its voxels are then placed by ``pixdim`` alone) or is uncalibrated."""
    scale = nm_per_unit(header, min(3, len(nifti_spatial_shape(header.get_data_shape()))))
    if scale is None or not (header["sform_code"] > 0 or header["qform_code"] > 0):
        return None
    affine = header.get_best_affine().astype(np.float64)
    affine[:3] *= scale
    return affine


def loaded_source(meta) -> str | os.PathLike | None:
    """The file a MONAI ``LoadImage`` meta dictionary (or a batch's) was read from, if it names one."""
    source = meta.get("filename_or_obj")
    return source[0] if isinstance(source, (list, tuple)) and source else source


def source_nm_per_unit(meta, ndim: int) -> float | None:
    """Nanometres per unit of the affine in a MONAI ``LoadImage`` meta dictionary, by the
    conventions above (:func:`nm_per_unit`). MONAI keeps no ``descrip``, so the header is read again
    from ``meta["filename_or_obj"]`` where that is a NIfTI file, to tell an uncalibrated one (None);
    otherwise ``meta["xyzt_units"]`` decides and "unknown" or no code is nm."""
    source = loaded_source(meta)
    if isinstance(source, (str, os.PathLike)) and nifti_suffix(source) and Path(source).is_file():
        return nm_per_unit(nib.load(str(source)).header, ndim)
    code = int(np.asarray(meta.get("xyzt_units", 0)).ravel()[0]) & 0x07
    return NM_PER_UNIT.get(nib.nifti1.unit_codes.label.get(code, "unknown"), 1.0)


def loaded_spacing_nm(image, ndim: int) -> tuple[float, ...]:
    """Voxel size in nm, numpy order (``(z, y, x)`` or ``(y, x)``), of a MONAI ``MetaTensor`` loaded
    from NIfTI by ``LoadImage`` (channel first, spatial axes in NIfTI order ``(x, y[, z])``).

    The spacing is that of the tensor's current affine (``image.pixdim``, NIfTI order), in the unit
    the file's header gives (:func:`source_nm_per_unit`). Of a batched MetaTensor, the first item's.

    Raises:
        InputError: the file is uncalibrated (see :func:`nm_per_unit`).
    """
    scale = source_nm_per_unit(image.meta, ndim)
    if scale is None:
        raise InputError(loaded_source(image.meta), "the file holds no voxel size (pixdim 1, unit unknown); write it "
                                                    "with catseg3d convert --spacing NM")
    pixdim = image.pixdim[0] if isinstance(image.pixdim, list) else image.pixdim  # a batch: its first item
    spacing = [float(s) for s in pixdim[:ndim].tolist()]
    return spacing_from_monai(float(f"{exact_decimal(z) * scale:.12g}") for z in spacing)


def nifti_spacing_nm(header: nib.Nifti1Header, ndim: int) -> tuple[float, ...] | None:
    """Voxel size in nm of the first ``ndim`` axes, in numpy order (``(z, y, x)`` or ``(y, x)``);
    None for an uncalibrated header (:func:`nm_per_unit`)."""
    scale = nm_per_unit(header, ndim)
    if scale is None:
        return None
    spacing_xyz = [float(f"{exact_decimal(z) * scale:.12g}") for z in header.get_zooms()[:ndim]]
    return spacing_from_monai(spacing_xyz)
