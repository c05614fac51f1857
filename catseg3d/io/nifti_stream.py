"""Write a NIfTI file from raw parts on disk, so that no volume has to be held in memory.

A numpy ``(z, y, x)`` array in C order has exactly the byte layout of NIfTI's ``(x, y, z)`` data
(Fortran order, x fastest). Slabs of whole ``z`` slices written one after another with
``ndarray.tofile`` therefore form the NIfTI data block, and the parts of several writers (one per
process, one per class channel) are concatenated in order behind the header.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
from pathlib import Path
from typing import Sequence

import nibabel as nib

from catseg3d.io.atomic import atomic_path
from catseg3d.io.nifti import check_nifti_output

DATA_OFFSET = 352  # 348-byte NIfTI-1 header + 4-byte extension flag (no extensions)


def write_nifti_from_parts(path: str | os.PathLike, header: nib.Nifti1Header,
                           parts: Sequence[str | os.PathLike], compresslevel: int = 1) -> Path:
    """Write ``header`` and the raw bytes of ``parts`` (in order) to ``path`` atomically.

    Args:
        path: ``.nii`` or ``.nii.gz`` target; gzip level ``compresslevel`` for the latter.
        header: the header (:func:`catseg3d.io.nifti.nifti_header`); its data offset is set here.
        parts: files whose concatenated bytes are the data block, in NIfTI (Fortran) order.

    Raises:
        InputError: wrong suffix or missing output folder.
        ValueError: the parts' total size is not what the header's shape and dtype need.
    """
    path = Path(path)
    suffix = check_nifti_output(path)
    expected = header.get_data_dtype().itemsize * math.prod(header.get_data_shape())
    total = sum(os.path.getsize(part) for part in parts)
    if total != expected:
        raise ValueError(f"{path}: parts hold {total} bytes, the header needs {expected}")
    header = header.copy()
    header.set_data_offset(DATA_OFFSET)
    with atomic_path(path, suffix=suffix) as tmp:
        opener = (lambda p: gzip.open(p, "wb", compresslevel=compresslevel)) if suffix == ".nii.gz" \
            else (lambda p: open(p, "wb"))
        with opener(tmp) as out:
            header.write_to(out)  # the 348-byte header and the 4-byte extension flag
            out.write(b"\x00" * (DATA_OFFSET - out.tell()))
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, out, length=16 << 20)
    return path
