"""Read a volume slab by slab (whole ``z`` slices), so that large tomograms need not fit in memory.

NIfTI files are read through nibabel's array proxy (memory-mapped for ``.nii``; ``.nii.gz`` is
decompressed once, front to back, as slabs are read in order) and MRC files through mrcfile's
memory map. Other formats (TIFF, NRRD, MHA, DM, EMD) are read whole with
:func:`catseg3d.io.read_volume`: convert them to ``.nii`` once to stream them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np

from catseg3d.io.errors import InputError
from catseg3d.io.nifti import nifti_spacing_nm, nifti_spatial_shape, nifti_suffix
from catseg3d.io.readers import MRC_SUFFIXES, mrc_spacing_nm, per_axis, read_volume


class SlabReader:
    """A 2D image or 3D volume whose ``z`` slices are read on demand.

    Attributes:
        path: the file.
        shape: ``(z, y, x)``; a 2D image is one slice, ``(1, y, x)``.
        ndim: 2 for an image, 3 for a volume (the dimensionality of the file).
        spacing: voxel size in nm, ``ndim`` values in numpy order (``(z, y, x)`` or ``(y, x)``).
        dtype: the data type slabs are returned in.
        nifti_header: for a NIfTI input, its header (affine, units), else None.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: Path, data, ndim: int, spacing: tuple[float, ...], closer=None,
                 nifti_header: nib.Nifti1Header | None = None) -> None:
        self.path = path
        self.nifti_header = nifti_header  # a NIfTI input's own header, to copy its geometry
        self._data = data  # array-like indexed in numpy (z, y, x) order
        self.ndim = ndim
        self.shape = tuple(int(s) for s in data.shape)
        self.spacing = spacing
        self.dtype = np.dtype(data.dtype)
        self._closer = closer

    def read(self, start: int, stop: int) -> np.ndarray:
        """Slices ``start:stop`` as a ``(stop - start, y, x)`` array in memory."""
        return np.ascontiguousarray(self._data[start:stop])

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> "SlabReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _NiftiZYX:
    """nibabel's ``(x, y, z)`` array proxy seen in ``(z, y, x)`` order, read in z ranges."""

    def __init__(self, path: Path, proxy, shape_xyz: tuple[int, ...]) -> None:
        self.path = path
        self.proxy = proxy
        self.shape = tuple(reversed(shape_xyz))
        self.dtype = self._read(np.s_[:1, :1, :1]).dtype  # after scl_slope/scl_inter, as slabs come

    def _read(self, index) -> np.ndarray:
        try:
            return np.asarray(self.proxy[index])
        except Exception as error:  # nibabel and gzip raise several types for a short file
            raise InputError(self.path, f"truncated or damaged NIfTI ({error})") from error

    def __getitem__(self, index: slice) -> np.ndarray:
        return np.transpose(self._read(np.s_[:, :, index]), (2, 1, 0))


def _open_nifti(path: Path):
    try:
        image = nib.load(str(path), keep_file_open=True)
    except Exception as error:
        raise InputError(path, f"cannot read NIfTI ({error})") from error
    shape = nifti_spatial_shape(image.shape)
    if len(shape) > 3:
        raise InputError(path, f"expected a 2D or 3D image, got shape {image.shape}")
    ndim = len(shape)
    expected = image.dataobj.offset + int(np.prod(image.shape)) * image.get_data_dtype().itemsize
    if nifti_suffix(path) == ".nii" and path.stat().st_size < expected:
        raise InputError(path, f"truncated NIfTI: {path.stat().st_size} bytes, the header needs {expected}")
    proxy = image.dataobj.reshape((*shape, 1) if ndim == 2 else shape)
    data = _NiftiZYX(path, proxy, tuple(proxy.shape))
    return data, ndim, nifti_spacing_nm(image.header, ndim), None, image.header


def _open_mrc(path: Path):
    import mrcfile

    try:
        mrc = mrcfile.mmap(path, mode="r", permissive=False)
    except Exception as error:
        raise InputError(path, f"cannot read MRC ({error})") from error
    data = mrc.data
    if data.ndim not in (2, 3):
        mrc.close()
        raise InputError(path, f"expected a 2D or 3D MRC, got shape {data.shape}")
    spacing = mrc_spacing_nm(mrc.voxel_size, data.ndim)
    return (data[None] if data.ndim == 2 else data), data.ndim, spacing, mrc.close, None


def open_slabs(path: str | os.PathLike, spacing: float | Sequence[float] | None = None) -> SlabReader:
    """Open an image or volume of any format :func:`catseg3d.io.read_volume` reads.

    Args:
        path: the input file or TIFF folder.
        spacing: voxel size in nm overriding the file's (one value or one per axis, numpy order).

    Raises:
        InputError: unreadable or unsupported input, an empty array, or no voxel size.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_file() and nifti_suffix(path):
        data, ndim, file_spacing, closer, header = _open_nifti(path)
    elif path.is_file() and path.suffix.lower() in MRC_SUFFIXES:
        data, ndim, file_spacing, closer, header = _open_mrc(path)
    else:
        volume = read_volume(path, spacing)
        array = volume.array
        data, ndim, file_spacing, closer, header = (array[None] if array.ndim == 2 else array), array.ndim, \
            volume.spacing, None, None
    if spacing is not None:
        file_spacing = per_axis(spacing, ndim, path)
        header = None  # the file's geometry no longer holds
    if file_spacing is None:
        if closer:
            closer()
        raise InputError(path, "the file holds no voxel size; pass --spacing NM")
    if 0 in data.shape:
        if closer:
            closer()
        raise InputError(path, f"empty image (shape {tuple(data.shape)})")
    return SlabReader(path, data, ndim, tuple(float(s) for s in file_spacing), closer, header)
