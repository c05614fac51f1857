"""The HAADF-STEM tilt-series experiment on a material volume.

HAADF intensity is, to first order, proportional to the projected mass-thickness weighted by
Z-contrast: per unit path length ``rho * Z**n / A`` (density in g/cm^3, mean atomic number and
mass of the compound; ``n``: :attr:`ImagingParameters.z_exponent`, 1.2). :data:`HAADF_WEIGHTS`
evaluates that for each material: Pt about 7 times gamma-Al2O3, Al2O3 about 2 times amorphous carbon. Projections are the line sums of the weight
volume (in weight x voxels), and Poisson noise is drawn for a dose given as the expected count in
the brightest pixel of the 0-degree projection.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from catseg3d.simulation.settings import ImagingParameters
from catseg3d.simulation.specimen import ALUMINA, AMORPHOUS, CARBON, PLATINUM, VACUUM
from catseg3d.tomography import project_volume

Z_EXPONENT = ImagingParameters.z_exponent  # the default
FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))
# material: (density g/cm^3, mean atomic number, mean atomic mass) per atom of the compound
COMPOSITION = {
    ALUMINA: (3.65, (2 * 13 + 3 * 8) / 5, (2 * 26.98 + 3 * 16.00) / 5),  # gamma-Al2O3
    PLATINUM: (21.45, 78.0, 195.08),
    CARBON: (2.0, 6.0, 12.01),  # amorphous carbon film
    AMORPHOUS: (2.0, 6.0, 12.01),  # dim amorphous masses: carbon-like, scaled by their own density
}
HAADF_WEIGHTS = {material: rho * z ** Z_EXPONENT / a for material, (rho, z, a) in COMPOSITION.items()}


def paper_tilt_angles() -> np.ndarray:
    """-68 to +68 degrees in 2 degree steps: 69 angles."""
    return np.arange(-68.0, 68.0 + 1e-9, 2.0)


def haadf_weights(z_exponent: float = Z_EXPONENT) -> dict[int, float]:
    """HAADF scattering weight per unit path length of each material, ``rho * Z**z_exponent / A``."""
    return {material: rho * z ** z_exponent / a for material, (rho, z, a) in COMPOSITION.items()}


def weight_volume(materials: np.ndarray, density: np.ndarray | None = None,
                  z_exponent: float = Z_EXPONENT) -> np.ndarray:
    """float32 ``(z, y, x)`` HAADF scattering weight of each voxel (vacuum 0); ``density`` (relative,
    ``(z, y, x)``) scales the weight of the alumina and of the amorphous masses (their texture)."""
    weights = haadf_weights(z_exponent)
    table = np.zeros(max(weights) + 1, dtype=np.float32)
    for material, weight in weights.items():
        table[material] = weight
    table[VACUUM] = 0.0
    volume = table[materials]
    if density is not None:
        textured = (materials == ALUMINA) | (materials == AMORPHOUS)
        volume[textured] *= density[textured]
    return volume


def degrade_projections(projections: np.ndarray, spacing_nm: float, imaging: ImagingParameters,
                        rng: np.random.Generator) -> np.ndarray:
    """The microscope's imperfections on noise-free projections: a uniform background, a Gaussian
    blur of FWHM ``resolution_fwhm_nm`` (with a share ``probe_tail_fraction`` of the signal blurred
    by the wider Gaussian of the probe's tails, FWHM ``probe_tail_fwhm_nm``, instead) and a random
    shift (SD ``jitter_nm``) of each projection.

    Args:
        projections: float32 ``(n_angles, y, x)`` line sums (tilt axis ``y``).
        spacing_nm: pixel size.

    Returns:
        float32 ``(n_angles, y, x)``, non-negative.
    """
    out = np.asarray(projections, dtype=np.float32)
    if imaging.background_fraction > 0:
        out = out + np.float32(imaging.background_fraction * out[len(out) // 2].mean())
    sigma = imaging.resolution_fwhm_nm / FWHM_PER_SIGMA / spacing_nm
    tail_fraction = float(imaging.probe_tail_fraction)
    if not 0.0 <= tail_fraction <= 1.0:
        raise ValueError(f"probe_tail_fraction must lie in [0, 1], got {tail_fraction}")
    tail_sigma = imaging.probe_tail_fwhm_nm / FWHM_PER_SIGMA / spacing_nm
    shifts = rng.normal(0.0, imaging.jitter_nm / spacing_nm, size=(len(out), 2))
    degraded = np.empty_like(out)
    for k, image in enumerate(out):
        tail = ndimage.gaussian_filter(image, tail_sigma, mode="nearest") if tail_fraction > 0 else None
        if sigma > 0:
            image = ndimage.gaussian_filter(image, sigma, mode="nearest")
        if tail is not None:
            image = (1.0 - tail_fraction) * image + tail_fraction * tail
        if imaging.jitter_nm > 0:
            image = ndimage.shift(image, shifts[k], order=1, mode="nearest")
        degraded[k] = image
    return np.maximum(degraded, 0)


def haadf_tilt_series(materials: np.ndarray, angles_deg: Sequence[float], dose: float | None,
                      rng: np.random.Generator, density: np.ndarray | None = None,
                      imaging: ImagingParameters | None = None, spacing_nm: float | None = None) -> np.ndarray:
    """Noisy HAADF projections of a material volume.

    Args:
        materials: uint8 ``(z, y, x)`` material codes; tilt axis ``y``, beam ``z`` at 0 degrees.
        angles_deg: tilt angles in degrees.
        dose: expected counts in the brightest pixel of the 0-degree projection (the one nearest
            0); ``None`` for noise-free projections.
        rng: random generator for the noise (and the misalignment).
        density: relative density ``(z, y, x)`` scaling the alumina (None: uniform).
        imaging: the microscope's settings (None: ideal projections, the default Z exponent).
        spacing_nm: voxel size, needed with ``imaging`` to convert its lengths.

    Returns:
        float32 ``(n_angles, y, x)`` projections in weight x voxel units (the noise-free mean is
        the line sum of :func:`weight_volume`, blurred and shifted as ``imaging`` says).

    Raises:
        ValueError: a non-positive dose, a specimen that scatters nothing, or ``imaging`` without
            ``spacing_nm``.
    """
    z_exponent = Z_EXPONENT if imaging is None else imaging.z_exponent
    if imaging is not None and (spacing_nm is None or not spacing_nm > 0):
        raise ValueError(f"imaging settings need a positive spacing_nm, got {spacing_nm}")
    weights = weight_volume(materials, density, z_exponent)
    if imaging is not None and imaging.depth_blur_fwhm_nm > 0:
        sigma = imaging.depth_blur_fwhm_nm / FWHM_PER_SIGMA / spacing_nm
        weights = ndimage.gaussian_filter1d(weights, sigma, axis=0, mode="constant")
    projections = project_volume(weights, angles_deg)
    if imaging is not None:
        projections = degrade_projections(projections, spacing_nm, imaging, rng)
    if dose is None:
        return projections
    if not dose > 0:
        raise ValueError(f"dose must be positive, got {dose}")
    brightest = float(projections[int(np.argmin(np.abs(np.asarray(angles_deg))))].max())
    if not brightest > 0:
        raise ValueError("the specimen scatters nothing: all projections are 0")
    counts_per_unit = dose / brightest * (1.0 if imaging is None else imaging.detective_quantum_efficiency)
    noisy = (rng.poisson(np.maximum(projections, 0) * counts_per_unit) / counts_per_unit).astype(np.float32)
    if imaging is not None and imaging.alignment_blur_fwhm_nm > 0:
        sigma = imaging.alignment_blur_fwhm_nm / FWHM_PER_SIGMA / spacing_nm
        noisy = ndimage.gaussian_filter(noisy, (0, sigma, sigma), mode="nearest")
    return noisy
