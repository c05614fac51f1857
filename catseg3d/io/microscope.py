"""Gatan DigitalMicrograph (``.dm3``/``.dm4``) and EMD (Velox, Berkeley/NCEM) files via rosettasciio.

rosettasciio returns each signal of a file as its data array in numpy order and one axis
description per array axis, in the same order (``name``, ``scale``, ``offset``, ``units``). So an
image is ``(y, x)``, a volume or stack ``(z, y, x)`` and a tilt series ``(angle, y, x)``, with no
transposing here.

Units: lengths in nm, µm/um/micron, Å/A/angstrom, pm or m are converted to nm. If any axis has
another unit or none (pixels), the file counts as uncalibrated: the caller must give the voxel
size. Angles are in degrees.

A tilt series (an axis in degrees, or named like ``tilt``/``angle``/``alpha``) holds projections,
not a volume: :func:`read_microscope_volume` refuses it and :func:`read_tilt_series` reads it.

Every problem raises :class:`~catseg3d.io.errors.InputError` naming the file: an unreadable or
corrupt file (with the reader's message), several signals of which no single HAADF/DF image can be
chosen by title, an array that is not 2D/3D, or a tilt series read as a volume (or the reverse).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from catseg3d.io.errors import InputError

MICROSCOPE_SUFFIXES = (".dm3", ".dm4", ".emd")
# axis units as rosettasciio reports them (pint short forms; "µ" is pint's micron) -> nm
NM_PER_UNIT = {"nm": 1.0, "\u00b5m": 1e3, "\u03bcm": 1e3, "um": 1e3, "micron": 1e3, "\u00b5": 1e3,
               "\u00e5": 0.1, "a": 0.1, "angstrom": 0.1, "pm": 1e-3, "m": 1e9}
DEGREE_UNITS = ("deg", "degree", "degrees", "\u00b0")
ANGLE_NAME = re.compile(r"tilt|angle|alpha", re.IGNORECASE)
HAADF_TITLE = re.compile(r"haadf", re.IGNORECASE)
DF_TITLE = re.compile(r"(?<![a-z])a?df", re.IGNORECASE)  # ADF, DF, DF4, DF-S; not BF or EDS


class TiltSeries(NamedTuple):
    """Projections of a tilt series.

    Attributes:
        projections: ``(n_angles, y, x)`` array.
        angles: tilt angle of each projection in degrees, shape ``(n_angles,)``.
        pixel_size: ``(y, x)`` pixel size in nm, or None if the file holds none.
    """

    projections: np.ndarray
    angles: np.ndarray
    pixel_size: tuple[float, float] | None


def _read_signals(path: Path) -> list[dict[str, Any]]:
    """All signals of the file as rosettasciio dictionaries (``data``, ``axes``, ``metadata``)."""
    if path.suffix.lower() == ".emd":
        from rsciio.emd import file_reader

        options = {"select_type": "images"}  # Velox images only: EDS spectrum images need `sparse`
    else:
        from rsciio.digitalmicrograph import file_reader

        options = {}
    try:
        return file_reader(path, **options)
    except Exception as error:
        message = " ".join(str(error).split()) or type(error).__name__
        raise InputError(path, f"cannot read {path.suffix[1:].upper()} ({message})") from error


def _title(signal: dict[str, Any]) -> str:
    return str(signal["metadata"].get("General", {}).get("title", ""))


def _pick_signal(path: Path, signals: list[dict[str, Any]]) -> dict[str, Any]:
    """The only signal, else the one HAADF image, else the one DF image (by title)."""
    if len(signals) == 1:
        return signals[0]
    for pattern in (HAADF_TITLE, DF_TITLE):
        matches = [s for s in signals if pattern.search(_title(s))]
        if len(matches) == 1:
            return matches[0]
    titles = ", ".join(repr(_title(s)) for s in signals)
    raise InputError(path, f"{len(signals)} signals ({titles}) and no single HAADF/DF image among them")


def _units(axis: dict[str, Any]) -> str:
    return str(axis.get("units") or "").strip().lower()


def _angle_axis(axes: list[dict[str, Any]]) -> int | None:
    """Index of the tilt-angle axis, or None."""
    for index, axis in enumerate(axes):
        if _units(axis) in DEGREE_UNITS or ANGLE_NAME.search(str(axis.get("name") or "")):
            return index
    return None


def _angles_deg(path: Path, axis: dict[str, Any]) -> np.ndarray:
    if _units(axis) not in DEGREE_UNITS:
        raise InputError(path, f"tilt axis {axis.get('name')!r} has units {axis.get('units')!r}, "
                               "expected degrees")
    return float(axis["offset"]) + float(axis["scale"]) * np.arange(int(axis["size"]))


def _spacing_nm(axes: list[dict[str, Any]]) -> tuple[float, ...] | None:
    """Pixel size in nm along each axis, or None if any axis has no length unit."""
    factors = [NM_PER_UNIT.get(_units(axis)) for axis in axes]
    if None in factors:
        return None
    return tuple(float(f"{float(axis['scale']) * factor:.10g}")
                 for axis, factor in zip(axes, factors, strict=True))


def _read_signal(path: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The chosen signal's array and its axes, in the same order."""
    signal = _pick_signal(path, _read_signals(path))
    return np.asarray(signal["data"]), list(signal["axes"])


def read_microscope_volume(path: str | Path) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """Read a DM3/DM4/EMD image or volume.

    Returns:
        The ``(y, x)`` or ``(z, y, x)`` array and its spacing in nm in the same order, or None if
        the file is uncalibrated.

    Raises:
        InputError: unreadable file, no single image signal, not 2D/3D, or a tilt series.
    """
    path = Path(path)
    array, axes = _read_signal(path)
    angle = _angle_axis(axes)
    if angle is not None:
        angles = _angles_deg(path, axes[angle])
        raise InputError(path, f"tilt series of {angles.size} projections from {angles[0]:g} to "
                               f"{angles[-1]:g} degrees, not a volume; reconstruct it with "
                               "`catseg3d reconstruct`")
    if array.ndim not in (2, 3):
        raise InputError(path, f"expected a 2D image or 3D volume, got shape {array.shape}")
    return array, _spacing_nm(axes)


def read_tilt_series(path: str | Path) -> TiltSeries:
    """Read a DM3/DM4/EMD tilt series, with the angle axis moved first.

    Raises:
        InputError: unreadable file, no single image signal, not 3D, no angle axis, or angles not
            in degrees.
    """
    path = Path(path)
    array, axes = _read_signal(path)
    angle = _angle_axis(axes)
    if angle is None:
        raise InputError(path, "not a tilt series: no axis in degrees or named tilt/angle/alpha")
    if array.ndim != 3:
        raise InputError(path, f"expected a 3D tilt series (angle, y, x), got shape {array.shape}")
    angles = _angles_deg(path, axes[angle])
    pixel_size = _spacing_nm([axis for index, axis in enumerate(axes) if index != angle])
    return TiltSeries(np.moveaxis(array, angle, 0), angles, pixel_size)
