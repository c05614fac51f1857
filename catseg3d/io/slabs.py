"""A volume opened lazily: read slab by slab (whole ``z`` slices), so that large tomograms need not
fit in memory, or whole (:meth:`SlabReader.load`, the :class:`~catseg3d.io.Volume` that
:func:`catseg3d.io.read_volume` returns).

NIfTI and MRC files are opened by their format's one reader (:func:`catseg3d.io.nifti.open_nifti`:
nibabel's array proxy, memory-mapped for ``.nii``, ``.nii.gz`` decompressed once, front to back,
as slabs are read in order; :func:`catseg3d.io.readers.open_mrc`: mrcfile's memory map). Other formats (TIFF, NRRD, MHA, DM, EMD) are read whole with
:func:`catseg3d.io.read_volume`: convert them to ``.nii`` once to stream them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np

from catseg3d.io.errors import InputError
from catseg3d.io.nifti import nifti_affine_nm, nifti_suffix, open_nifti
from catseg3d.io.readers import MRC_SUFFIXES, mrc_data, open_mrc, per_axis, read_volume
from catseg3d.io.volume import Volume, placed_volume


class SlabReader:
    """A 2D image or 3D volume whose ``z`` slices are read on demand.

    Attributes:
        path: the file.
        shape: ``(z, y, x)``; a 2D image is one slice, ``(1, y, x)``.
        ndim: 2 for an image, 3 for a volume (the dimensionality of the file).
        spacing: voxel size in nm, ``ndim`` values in numpy order (``(z, y, x)`` or ``(y, x)``).
        dtype: the data type slabs are returned in.
        nifti_header: for a NIfTI input, its header (affine, units), else None.
        affine: where the file places its voxels (NIfTI sform/qform, NRRD, MHA), the
            :class:`Volume` affine (nm), else None.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: Path, data, ndim: int, spacing: tuple[float, ...], closer=None,
                 nifti_header: nib.Nifti1Header | None = None, affine: np.ndarray | None = None) -> None:
        self.path = path
        self.nifti_header = nifti_header  # a NIfTI input's own header, to copy its geometry
        self.affine = affine
        self._data = data  # array-like indexed in numpy (z, y, x) order
        self.ndim = ndim
        self.shape = tuple(int(s) for s in data.shape)
        self.spacing = spacing
        self.dtype = np.dtype(data.dtype)
        self._closer = closer

    def read(self, start: int, stop: int) -> np.ndarray:
        """Slices ``start:stop`` as a ``(stop - start, y, x)`` array in memory."""
        return np.ascontiguousarray(self._data[start:stop])

    def load(self) -> Volume:
        """All slices as a :class:`Volume` (``(y, x)`` for an image, else ``(z, y, x)``)."""
        array = self.read(0, self.shape[0])
        return placed_volume(array[0] if self.ndim == 2 else array, self.spacing, self.affine)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> "SlabReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open_nifti(path: Path):
    data, ndim, spacing, header = open_nifti(path, keep_file_open=True)
    return data, ndim, spacing, None, header


def _open_mrc(path: Path):
    mrc, spacing = open_mrc(path)
    data = mrc_data(mrc)
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
    affine = None
    if path.is_file() and nifti_suffix(path):
        data, ndim, file_spacing, closer, header = _open_nifti(path)
        affine = nifti_affine_nm(header)
    elif path.is_file() and path.suffix.lower() in MRC_SUFFIXES:
        data, ndim, file_spacing, closer, header = _open_mrc(path)
    else:
        volume = read_volume(path, spacing)
        array = volume.array
        data, ndim, file_spacing, closer, header = (array[None] if array.ndim == 2 else array), array.ndim, \
            volume.spacing, None, None
        affine = volume.affine
    if spacing is not None:
        file_spacing = per_axis(spacing, ndim, path)
        header, affine = None, None  # the file's geometry no longer holds
    if file_spacing is None:
        if closer:
            closer()
        raise InputError(path, "the file holds no voxel size; pass --spacing NM")
    if 0 in data.shape:
        if closer:
            closer()
        raise InputError(path, f"empty image (shape {tuple(data.shape)})")
    return SlabReader(path, data, ndim, tuple(float(s) for s in file_spacing), closer, header, affine)
