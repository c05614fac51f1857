"""A MONAI image writer whose files keep the voxel size and unit of the image they came from.

MONAI's ``NibabelWriter`` writes the affine's numbers with the unit "unknown" and no description,
whatever the unit of the file the image was read from: labels of a tomogram stored in mm (an
ITK-based editor's file) come back as a file whose numbers read as nm, 10^6 too small, and labels
of a 1 nm tomogram as an uncalibrated file (:func:`catseg3d.io.nifti.nm_per_unit`).
:class:`UnitKeepingNiftiWriter` writes the source's unit code, and for nm (unit "unknown") catseg3d's
description, as ``catseg3d segment`` keeps a NIfTI input's header. Use it as
``SaveImaged(writer=UnitKeepingNiftiWriter)``.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
from monai.data import NibabelWriter
from monai.utils import get_equivalent_dtype

from catseg3d.io.nifti import DESCRIPTION, NM_PER_UNIT, source_nm_per_unit


class UnitKeepingNiftiWriter(NibabelWriter):
    """``NibabelWriter`` that writes the spatial unit of the image's source file (by
    :func:`catseg3d.io.nifti.source_nm_per_unit`: metre, mm, micron, or nm as unit "unknown" with
    ``descrip = "catseg3d spacing_unit=nm"``), so that catseg3d and viewers read the output's voxel
    size as the input's. An image of an uncalibrated file is written as MONAI writes it (no voxel
    size claimed)."""

    def set_metadata(self, meta_dict, resample: bool = True, **options) -> None:
        self.source_unit = None
        if meta_dict:
            spatial_dims = min(3, len(meta_dict.get("spatial_shape", ())) or 3)
            scale = source_nm_per_unit(meta_dict, spatial_dims)
            self.source_unit = None if scale is None else {v: k for k, v in NM_PER_UNIT.items()}[scale]
        super().set_metadata(meta_dict, resample=resample, **options)

    def write(self, filename: str | os.PathLike, verbose: bool = False, **obj_kwargs) -> None:
        unit = getattr(self, "source_unit", None)
        if unit is None:
            super().write(filename, verbose=verbose, **obj_kwargs)
            return
        header = nib.Nifti1Header()
        header.set_xyzt_units(xyz=unit)
        if unit == "unknown":
            header["descrip"] = DESCRIPTION
        dtype = self.output_dtype if self.output_dtype is not None else self.data_obj.dtype
        header.set_data_dtype(get_equivalent_dtype(dtype, np.ndarray))
        super().write(filename, verbose=verbose, header=header, **obj_kwargs)
