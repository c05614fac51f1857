"""Write a series of simulated tomograms to disk, resumably (finished volumes are kept)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from catseg3d.io.jsonfile import write_json
from catseg3d.io.nifti import write_nifti
from catseg3d.io.tilt import write_tilt_series
from catseg3d.io.volume import Volume
from catseg3d.simulation.settings import (DEFAULT_DOSE, DEFAULT_ITERATIONS, DEFAULT_METHOD, DEFAULT_SPACING_NM,
                                          ImagingParameters, SpecimenParameters, simulator_settings)
from catseg3d.simulation.tomogram import SimulatedTomogram, ground_truth_statistics, simulate_tomogram

RECONSTRUCTION = "reconstruction.nii.gz"
LABELS = "labels.nii.gz"
TILT_SERIES = "tilt_series.mrc"
TRUTH = "truth.json"


@dataclass(frozen=True)
class SimulatedFiles:
    """The files of one simulated volume (all in one folder, ``truth.json`` written last)."""

    folder: Path

    @property
    def reconstruction(self) -> Path:
        """float32 NIfTI ``(x, y, z)`` on disk (numpy ``(z, y, x)`` via catseg3d.io), spacing in nm."""
        return self.folder / RECONSTRUCTION

    @property
    def labels(self) -> Path:
        """uint8 NIfTI on the reconstruction's grid: 0 background/pores/carbon, 1 alumina, 2 Pt."""
        return self.folder / LABELS

    @property
    def tilt_series(self) -> Path:
        """MRC ``(n_angles, y, x)`` with the angles in ``tilt_series.rawtlt``."""
        return self.folder / TILT_SERIES

    @property
    def truth(self) -> Path:
        """JSON: ``parameters`` (to draw it again) and ``truth`` (:func:`ground_truth_statistics`)."""
        return self.folder / TRUTH


def write_simulated_tomogram(tomogram: SimulatedTomogram, folder: str | os.PathLike) -> SimulatedFiles:
    """Write the reconstruction, labels, tilt series and truth JSON of ``tomogram`` into ``folder``."""
    files = SimulatedFiles(Path(folder))
    files.folder.mkdir(parents=True, exist_ok=True)
    spacing = tomogram.specimen.spacing
    write_nifti(Volume(tomogram.reconstruction, spacing), files.reconstruction)
    write_nifti(Volume(tomogram.specimen.labels, spacing), files.labels)
    write_tilt_series(tomogram.tilt_series, tomogram.angles_deg, spacing[2], files.tilt_series)
    write_json(files.truth, {"parameters": tomogram.parameters, "truth": ground_truth_statistics(tomogram.specimen)})
    return files


def _finished(files: SimulatedFiles, parameters: dict) -> bool:
    """Whether ``files`` hold a complete volume drawn with these parameters."""
    try:
        stored = json.loads(files.truth.read_text())["parameters"]
    except (OSError, ValueError, KeyError):
        return False
    same = all(stored.get(k) == v for k, v in parameters.items())
    return same and all(p.is_file() for p in (files.reconstruction, files.labels, files.tilt_series))


def simulate_series(out_dir: str | os.PathLike, n: int, shape: Sequence[int], seed: int = 0,
                    spacing: float = DEFAULT_SPACING_NM, dose: float | None = DEFAULT_DOSE,
                    method: str = DEFAULT_METHOD, iterations: int = DEFAULT_ITERATIONS,
                    first: int = 0, progress: bool = True,
                    imaging: ImagingParameters = ImagingParameters(),
                    specimen: SpecimenParameters = SpecimenParameters()) -> list[SimulatedFiles]:
    """Simulate volumes ``first .. first + n - 1`` of the ``seed`` series into ``out_dir/volume_NNN``:
    specimens drawn from ``specimen``, imaged with ``imaging`` (defaults:
    :class:`~catseg3d.simulation.settings.SpecimenParameters` and
    :class:`~catseg3d.simulation.settings.ImagingParameters`).

    A volume whose folder already holds the same parameters (the simulator's settings included) and
    all its files is kept, so an interrupted run resumes where it stopped.

    Returns:
        The files of each volume, in order.

    Raises:
        ValueError: ``n`` under 1, a shape that is not three sizes of at least 8 voxels, or a
            spacing, dose or number of iterations that is not positive.
    """
    if n < 1 or len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"need n >= 1 and a shape of three sizes of at least 8 voxels, got n {n}, shape {tuple(shape)}")
    if not spacing > 0 or not (dose is None or dose > 0) or iterations < 1:
        raise ValueError(f"spacing, dose and iterations must be positive, got {spacing}, {dose}, {iterations}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = {"seed": int(seed), "shape_zyx": [int(s) for s in shape], "spacing_nm": float(spacing),
           "dose_counts_brightest_pixel": dose, "reconstruction": {"method": method, "iterations": int(iterations)},
           **simulator_settings(imaging, specimen)}
    written = []
    for index in tqdm(range(first, first + n), desc="simulate", unit="volume", disable=not progress):
        files = SimulatedFiles(out_dir / f"volume_{index:03d}")
        if not _finished(files, {**key, "index": index}):
            tomogram = simulate_tomogram(shape, spacing, seed, index, dose, method, iterations,
                                         specimen_parameters=specimen, imaging=imaging)
            files = write_simulated_tomogram(tomogram, files.folder)
        written.append(files)
    return written
