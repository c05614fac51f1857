"""The HAADF-STEM tilt-series experiment on a material volume.

HAADF intensity is, to first order, proportional to the projected mass-thickness weighted by
Z-contrast: per unit path length ``rho * Z**1.7 / A`` (density in g/cm^3, mean atomic number and
mass of the compound). :data:`HAADF_WEIGHTS` evaluates that for each material: Pt about 20 times
gamma-Al2O3, Al2O3 about 2.5 times amorphous carbon. Projections are the line sums of the weight
volume (in weight x voxels), and Poisson noise is drawn for a dose given as the expected count in
the brightest pixel of the 0-degree projection.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from catseg3d.simulation.specimen import ALUMINA, CARBON, PLATINUM, VACUUM
from catseg3d.tomography import project_volume

Z_EXPONENT = 1.7
# material: (density g/cm^3, mean atomic number, mean atomic mass) per atom of the compound
COMPOSITION = {
    ALUMINA: (3.65, (2 * 13 + 3 * 8) / 5, (2 * 26.98 + 3 * 16.00) / 5),  # gamma-Al2O3
    PLATINUM: (21.45, 78.0, 195.08),
    CARBON: (2.0, 6.0, 12.01),  # amorphous carbon film
}
HAADF_WEIGHTS = {material: rho * z ** Z_EXPONENT / a for material, (rho, z, a) in COMPOSITION.items()}


def paper_tilt_angles() -> np.ndarray:
    """-68 to +68 degrees in 2 degree steps: 69 angles."""
    return np.arange(-68.0, 68.0 + 1e-9, 2.0)


def weight_volume(materials: np.ndarray) -> np.ndarray:
    """float32 ``(z, y, x)`` HAADF scattering weight of each voxel (vacuum 0)."""
    table = np.zeros(max(HAADF_WEIGHTS) + 1, dtype=np.float32)
    for material, weight in HAADF_WEIGHTS.items():
        table[material] = weight
    table[VACUUM] = 0.0
    return table[materials]


def haadf_tilt_series(materials: np.ndarray, angles_deg: Sequence[float], dose: float | None,
                      rng: np.random.Generator) -> np.ndarray:
    """Noisy HAADF projections of a material volume.

    Args:
        materials: uint8 ``(z, y, x)`` material codes; tilt axis ``y``, beam ``z`` at 0 degrees.
        angles_deg: tilt angles in degrees.
        dose: expected counts in the brightest pixel of the 0-degree projection (the one nearest
            0); ``None`` for noise-free projections.
        rng: random generator for the Poisson noise.

    Returns:
        float32 ``(n_angles, y, x)`` projections in weight x voxel units (the noise-free mean is
        the line sum of :func:`weight_volume`).

    Raises:
        ValueError: a non-positive dose, or a specimen that scatters nothing.
    """
    projections = project_volume(weight_volume(materials), angles_deg)
    if dose is None:
        return projections
    if not dose > 0:
        raise ValueError(f"dose must be positive, got {dose}")
    brightest = float(projections[int(np.argmin(np.abs(np.asarray(angles_deg))))].max())
    if not brightest > 0:
        raise ValueError("the specimen scatters nothing: all projections are 0")
    counts_per_unit = dose / brightest
    counts = rng.poisson(np.maximum(projections, 0) * counts_per_unit)
    return (counts / counts_per_unit).astype(np.float32)
