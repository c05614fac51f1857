"""One simulated tomogram: specimen, HAADF tilt series, reconstruction and ground-truth statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from catseg3d.io.genc2022 import CLASS_NAMES
from catseg3d.simulation.haadf import COMPOSITION, haadf_tilt_series, haadf_weights, paper_tilt_angles
from catseg3d.simulation.settings import (DEFAULT_DOSE, DEFAULT_ITERATIONS, DEFAULT_METHOD, DEFAULT_SPACING_NM,
                                          ImagingParameters, draw_imaging, parameters_dict)
from catseg3d.simulation.specimen import (ALUMINA, MATERIAL_NAMES, PLATINUM, Specimen, SpecimenParameters,
                                          simulate_specimen)
from catseg3d.tomography import METHODS, reconstruct_tilt_series

CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


@dataclass
class SimulatedTomogram:
    """A simulated experiment.

    Attributes:
        specimen: the ground truth (materials, labels, particles).
        angles_deg: ``(n_angles,)`` tilt angles in degrees.
        tilt_series: float32 ``(n_angles, y, x)`` noisy projections (tilt axis ``y``).
        reconstruction: float32 ``(z, y, x)`` volume on the specimen's grid (beam along ``z``).
        parameters: everything needed to draw it again (JSON-ready).
    """

    specimen: Specimen
    angles_deg: np.ndarray
    tilt_series: np.ndarray
    reconstruction: np.ndarray
    parameters: dict


def simulate_tomogram(shape: Sequence[int], spacing: float = DEFAULT_SPACING_NM, seed: int = 0, index: int = 0,
                      dose: float | None = DEFAULT_DOSE, method: str = DEFAULT_METHOD,
                      iterations: int = DEFAULT_ITERATIONS,
                      angles_deg: Sequence[float] | None = None,
                      specimen_parameters: SpecimenParameters = SpecimenParameters(),
                      imaging: ImagingParameters = ImagingParameters()) -> SimulatedTomogram:
    """Simulate volume ``index`` of the series drawn with ``seed`` (deterministic for both).

    Args:
        shape: ``(z, y, x)`` voxels; ``z`` is the beam direction at 0 degrees, ``y`` the tilt axis.
        spacing: isotropic voxel size in nm.
        seed: the series' seed; volume ``index`` draws its specimen from
            ``numpy.random.default_rng([seed, index, 0])`` and its noise from ``[seed, index, 1]``, so a
            volume does not depend on how many others are drawn.
        index: the volume's number in the series.
        dose: expected counts in the brightest pixel of the 0-degree projection (``None``: no noise).
        method: ``mlem`` (the paper's) or ``sirt``.
        iterations: reconstruction iterations.
        angles_deg: tilt angles (default: -68 to +68 degrees in 2 degree steps).
        specimen_parameters: the specimen's distributions.
        imaging: the microscope's settings (blur, misalignment, detector, background); a range
            among them is drawn from ``numpy.random.default_rng([seed, index, 2])``
            (:func:`~catseg3d.simulation.settings.draw_imaging`).

    Raises:
        ValueError: bad shape, spacing, dose or method.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    angles = paper_tilt_angles() if angles_deg is None else np.asarray(angles_deg, dtype=np.float64)
    specimen = simulate_specimen(shape, spacing, np.random.default_rng([seed, index, 0]), specimen_parameters)
    imaging_settings, imaging = imaging, draw_imaging(imaging, np.random.default_rng([seed, index, 2]))
    tilt_series = haadf_tilt_series(specimen.materials, angles, dose, np.random.default_rng([seed, index, 1]),
                                    specimen.density, imaging, float(spacing))
    reconstruction = reconstruct_tilt_series(tilt_series, angles, method, iterations, thickness=specimen.materials.shape[0])
    parameters = {
        "seed": int(seed), "index": int(index), "shape_zyx": list(specimen.materials.shape),
        "spacing_nm": float(spacing), "tilt_axis": "y", "beam_axis_at_0_deg": "z",
        "angles_deg": angles.tolist(), "dose_counts_brightest_pixel": dose,
        "reconstruction": {"method": method, "iterations": int(iterations)},
        "haadf_weights": {MATERIAL_NAMES[m]: w for m, w in haadf_weights(imaging.z_exponent).items()},
        "imaging": parameters_dict(imaging_settings),
        "imaging_drawn": parameters_dict(imaging),
        "compositions": {MATERIAL_NAMES[m]: {"density_g_cm3": c[0], "mean_z": c[1], "mean_a": c[2]}
                         for m, c in COMPOSITION.items()},
        "specimen_distributions": parameters_dict(specimen_parameters),
        "specimen_drawn": specimen.geometry,
    }
    return SimulatedTomogram(specimen, angles, tilt_series, reconstruction, parameters)


def ground_truth_statistics(specimen: Specimen) -> dict:
    """What the label volume holds, in nm (the simulator's JSON ``truth``).

    Pt particles are the 26-connected components of label 2 (the simulator keeps them apart, so
    there is one per placed particle); ``diameter_nm`` is the designed sphere's, and
    ``equivalent_diameter_nm`` the sphere of the component's volume. Pores are the voxels carved
    out of the plate (all enclosed); their fraction is of alumina plus pores. The external surface
    is the plate's exact area and the pore walls come from marching cubes on the pores' continuous
    implicit function, so neither shares the voxel staircase of the labels.
    """
    labels = specimen.labels
    voxel = float(np.prod(specimen.spacing))
    components, count = ndimage.label(labels == PLATINUM, structure=CONNECTIVITY_26)
    sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
    particles = []
    for number, particle in enumerate(specimen.particles, start=1):
        centre = tuple(int(round(c / s)) for c, s in zip(particle["centre_nm"], specimen.spacing))
        size = int(sizes[components[centre] - 1]) if components[centre] else 0
        particles.append({**particle, "voxels": size,
                          "equivalent_diameter_nm": float((6 * size * voxel / np.pi) ** (1 / 3))})
    alumina = int((labels == ALUMINA).sum())
    pores = int(specimen.pore_mask.sum())
    _, pore_count = ndimage.label(specimen.pore_mask, structure=CONNECTIVITY_26)
    counts = np.bincount(labels.ravel(), minlength=len(CLASS_NAMES))[:len(CLASS_NAMES)]
    return {
        "class_voxels": {name: int(n) for name, n in zip(CLASS_NAMES, counts, strict=True)},
        "volume_fractions": {name: float(n / labels.size) for name, n in zip(CLASS_NAMES, counts, strict=True)},
        "pt": {"count": int(count), "particles": particles},
        "alumina": {
            "support_volume_nm3": alumina * voxel,
            "external_surface_nm2": specimen.outer_surface_area_nm2,
            "specific_surface_nm_1": specimen.outer_surface_area_nm2 / (alumina * voxel) if alumina else None,
            "pore_volume_nm3": pores * voxel,
            "pore_volume_fraction": pores / (alumina + pores) if alumina + pores else None,
            "pore_surface_nm2": specimen.pore_surface_area_nm2,
            "pore_count": int(pore_count),
        },
    }
