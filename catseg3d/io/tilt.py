"""Tilt series from any source: microscope files carry their angles, stacks take an angle file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from catseg3d.io.atomic import atomic_path, write_text
from catseg3d.io.errors import InputError
from catseg3d.io.microscope import MICROSCOPE_SUFFIXES, TiltSeries, read_tilt_series
from catseg3d.io.readers import read_volume


def read_angles(path: str | os.PathLike) -> np.ndarray:
    """Tilt angles in degrees from a text file with one number per line (IMOD ``.tlt``/``.rawtlt``).

    Raises:
        InputError: a missing file or a line that is not a number.
    """
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return np.array([float(line) for line in lines])
    except OSError as error:
        raise InputError(path, f"cannot read angles ({error.strerror})") from error
    except ValueError as error:
        raise InputError(path, f"not one angle per line ({error})") from error


def load_tilt_series(path: str | os.PathLike, angles_file: str | os.PathLike | None = None,
                     spacing: float | None = None) -> TiltSeries:
    """A tilt series ``(n_angles, y, x)`` with its angles (degrees) and pixel size (nm).

    DM3/DM4/EMD tilt series carry angles and pixel size; any stack ``read_volume`` reads (TIFF, MRC,
    NIfTI) needs ``angles_file``. ``angles_file`` and ``spacing`` override the file's own values.

    Raises:
        InputError: no angles, fewer than two, non-finite ones or not one per projection; no
            pixel size or a non-positive one.
    """
    path = Path(path)
    if path.suffix.lower() in MICROSCOPE_SUFFIXES:
        series = read_tilt_series(path)
    else:
        if angles_file is None:
            raise InputError(path, "a stack holds no tilt angles; pass --angles FILE (one angle per line)")
        volume = read_volume(path, spacing=spacing)
        if volume.array.ndim != 3:
            raise InputError(path, f"expected a stack of projections, got shape {volume.array.shape}")
        series = TiltSeries(volume.array, np.empty(0), tuple(volume.spacing[1:]))
    angles = read_angles(angles_file) if angles_file is not None else series.angles
    pixel_size = (spacing, spacing) if spacing is not None else series.pixel_size
    if len(angles) != series.projections.shape[0]:
        raise InputError(angles_file or path, f"{len(angles)} angles for {series.projections.shape[0]} projections")
    if len(angles) < 2 or not np.all(np.isfinite(angles)):
        raise InputError(angles_file or path, f"need at least two finite tilt angles, got {list(angles)}")
    if pixel_size is None:
        raise InputError(path, "the file holds no pixel size; pass --spacing NM")
    if not all(np.isfinite(s) and s > 0 for s in pixel_size):
        raise InputError(path, f"pixel size must be positive, got {pixel_size} nm")
    return TiltSeries(series.projections, np.asarray(angles, dtype=np.float64), tuple(pixel_size))


def write_tilt_series(projections: np.ndarray, angles_deg: np.ndarray, pixel_size_nm: float,
                      path: str | os.PathLike) -> tuple[Path, Path]:
    """Write a tilt series as IMOD does: an MRC stack and its angles beside it (``.rawtlt``).

    Args:
        projections: ``(n_angles, y, x)`` float32 projections.
        angles_deg: the tilt angle of each projection in degrees.
        pixel_size_nm: detector pixel size in nm (stored in the MRC header in Angstrom).
        path: the ``.mrc`` file; the angles go to the same name with suffix ``.rawtlt``.

    Returns:
        The two paths written (each written atomically). :func:`load_tilt_series` reads them back.
    """
    import mrcfile

    path = Path(path)
    angles_path = path.with_suffix(".rawtlt")
    with atomic_path(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.asarray(projections, dtype=np.float32))
            mrc.voxel_size = pixel_size_nm * 10.0
    write_text(angles_path, "".join(f"{a:g}\n" for a in angles_deg))
    return path, angles_path
