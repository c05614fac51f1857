"""Reading and writing images: :class:`Volume`, the format readers, NIfTI, datalists."""

from catseg3d.io.datalist import (DatalistNotFound, image_datalist, image_shape, image_spacing_nm, load_datalist,
                                  write_datalist)
from catseg3d.io.errors import InputError
from catseg3d.io.nifti import read_nifti, write_nifti
from catseg3d.io.readers import read_volume
from catseg3d.io.volume import Volume

__all__ = ["DatalistNotFound", "InputError", "Volume", "image_datalist", "image_shape", "image_spacing_nm",
           "load_datalist", "read_nifti", "read_volume", "write_datalist", "write_nifti"]
