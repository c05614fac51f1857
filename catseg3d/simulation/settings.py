"""Every setting of the simulator, in one place: the specimen's distributions and the experiment's.

All lengths are in nm, angles in degrees. :class:`SpecimenParameters` draws the material volume
(:mod:`.specimen`), :class:`ImagingParameters` turns it into a HAADF tilt series (:mod:`.haadf`);
the dose, the reconstruction and the volume's shape and voxel size are arguments of
:func:`.tomogram.simulate_tomogram` and of ``catseg3d simulate`` (their defaults are here too).
The defaults are tuned so that slices of 128^3 volumes at 0.12 nm resemble the annotated patches
of Genc et al. (2022) on ``scripts/realism_report.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

DEFAULT_DOSE = 2000.0  # expected counts in the brightest pixel of the 0-degree projection
DEFAULT_METHOD = "mlem"  # reconstruction: the paper's MLEM
DEFAULT_ITERATIONS = 30  # reconstruction iterations
DEFAULT_SPACING_NM = 0.12  # voxel size: the annotated patches' pixel size


@dataclass(frozen=True)
class SpecimenParameters:
    """The random specimen's distributions (lengths in nm unless stated; ``(low, high)`` ranges are
    drawn uniformly unless stated).

    Attributes:
        plate_extent: semi-diagonal ``a`` of the rhombus as a fraction of the smaller in-plane
            field of view (``min(y, x)`` extent).
        aspect: ``b / a``, the rhombus's second semi-diagonal over its first.
        half_thickness: the plate's central half-thickness as a fraction of the smallest extent
            of the volume, at least 1.5 nm.
        max_normal_tilt_deg: largest angle between the plate normal and the beam at 0 degrees.
        ledges: number of ledges on each broad face (inclusive range).
        ledge_height: height of one ledge as a fraction of the half-thickness.
        pore_chains_per_100nm2: mean number of pore chains per 100 nm^2 of plate area.
        pores_per_chain: inclusive range of pores per chain.
        pore_diameter_nm: range of pore widths.
        pore_elongation: range of pore length over width.
        pore_margin_nm: least alumina between a pore and the outer surface.
        pt_per_100nm2: mean number of Pt particles per 100 nm^2 of outer surface.
        pt_diameter_nm: range of Pt diameters (log-uniform).
        pt_convexity_weight: the site weight is ``exp(weight * (convexity - 0.5))`` where
            convexity is the fraction of vacuum around a surface voxel (0.5 on a flat face).
        carbon_probability: chance that a carbon strand runs behind the plate.
        carbon_radius_nm: range of the strand's radius.
        grain_contrast: relative SD of the alumina's density from grain to grain (texture; the
            labels do not see it).
        grain_size_nm: correlation length (Gaussian sigma) of that density texture.
        dim_masses: inclusive range of the number of dim amorphous masses (carbon-like: support
            film, contamination) beside the plate and at its depth, which the labels call
            background: in slices through the plate they show as the faint textured masses that
            annotators of real tomograms leave out of the support. ``(0, 0)``: none.
        dim_mass_radius_nm: range of a mass's largest semi-axis (its others 0.5-1 times it).
        dim_mass_density: range of a mass's density relative to amorphous carbon's (2 g/cm^3);
            the alumina's grain texture runs through it too.
        coat_thickness_nm: range of the thickness of a contamination coat (hydrocarbon that the
            beam deposits, adsorbed matter) over the outer surfaces of the support and the Pt,
            which the labels call background: the faint halo that fades over nanometres around
            the support in real slices (background 1-2 nm from the alumina at level 10, real 14,
            none 2). ``(0, 0)``: none.
        coat_density: range of the coat's density on the surface, relative to amorphous carbon's;
            it thins linearly to 0 at the coat's thickness.
    """

    plate_extent: tuple[float, float] = (0.34, 0.44)
    aspect: tuple[float, float] = (0.7, 0.95)
    half_thickness: tuple[float, float] = (0.30, 0.38)
    max_normal_tilt_deg: float = 6.0
    ledges: tuple[int, int] = (1, 3)
    ledge_height: tuple[float, float] = (0.02, 0.05)
    pore_chains_per_100nm2: float = 1.2
    pores_per_chain: tuple[int, int] = (1, 3)
    pore_diameter_nm: tuple[float, float] = (1.5, 3.5)
    pore_elongation: tuple[float, float] = (1.0, 2.0)
    pore_margin_nm: float = 0.5
    pt_per_100nm2: float = 0.5
    pt_diameter_nm: tuple[float, float] = (1.0, 4.0)
    pt_convexity_weight: float = 12.0
    carbon_probability: float = 0.5
    carbon_radius_nm: tuple[float, float] = (2.0, 5.0)
    grain_contrast: float = 0.4
    grain_size_nm: float = 0.7
    dim_masses: tuple[int, int] = (0, 0)
    dim_mass_radius_nm: tuple[float, float] = (2.0, 5.0)
    dim_mass_density: tuple[float, float] = (0.6, 1.4)
    coat_thickness_nm: tuple[float, float] = (1.5, 3.5)
    coat_density: tuple[float, float] = (0.3, 0.7)


@dataclass(frozen=True)
class ImagingParameters:
    """The HAADF-STEM experiment's settings (besides the dose and the tilt angles).

    Each setting is a number, or a range ``(low, high)`` from which every volume draws its own value
    uniformly (:func:`draw_imaging`), so that one series spans several microscopes and detectors.

    Attributes:
        z_exponent: HAADF intensity per unit path length goes as ``rho * Z**z_exponent / A``.
            Incoherent scattering theory gives 1.4 to 2 for high inner detector angles; 1.2 makes
            the reconstructed Pt as bright against alumina as in the real patches (mean Pt level
            over mean alumina level 3.4 against 3.3 after the same 8-bit mapping, where 1.4
            saturates most Pt at 255).
        resolution_fwhm_nm: FWHM of the Gaussian blur of every projection (probe size, drift and
            the tomogram's limited resolution), in the detector plane.
        probe_tail_fraction: share of each projection's signal spread by the probe's tails (and
            beam broadening) into a wide Gaussian of FWHM ``probe_tail_fwhm_nm`` instead of the
            core's: a faint halo that fades over nanometres around every mass, which the exact
            labels call background. 0: none.
        probe_tail_fwhm_nm: FWHM of that wide Gaussian.
        jitter_nm: SD of each projection's residual misalignment (random shift), across and
            along the tilt axis.
        background_fraction: uniform signal of amorphous carbon / contamination everywhere, as a
            fraction of the mean signal of the 0-degree projection.
        detective_quantum_efficiency: the detector's DQE: the noise is that of ``dose * DQE``
            Poisson counts (scintillator and photomultiplier gain noise), the mean unchanged.
        alignment_blur_fwhm_nm: FWHM of the Gaussian smoothing of the noisy projections by their
            alignment (sub-pixel shifts and interpolation before reconstruction).
        depth_blur_fwhm_nm: FWHM of a Gaussian blur along the beam (``z``) only of the specimen's
            scattering weight before projection: the poorer depth resolution of real
            reconstructions (residual misalignment along the beam, the probe's finite depth of
            field), beyond the elongation that the missing wedge of the tilt range alone gives.
            Material just above or below a slice shows in it as a faint haze, which the exact
            labels call background; the reconstruction's noise stays as it is. 0: none.
    """

    z_exponent: float = 1.2
    resolution_fwhm_nm: float = 1.2
    probe_tail_fraction: float = 0.0
    probe_tail_fwhm_nm: float = 4.0
    jitter_nm: float = 0.15
    background_fraction: float = 0.1
    detective_quantum_efficiency: float = 0.2
    alignment_blur_fwhm_nm: float = 0.1
    depth_blur_fwhm_nm: float = 0.0


def draw_imaging(imaging: ImagingParameters, rng) -> ImagingParameters:
    """``imaging`` with every range ``(low, high)`` replaced by a value drawn uniformly from it with
    the numpy Generator ``rng`` (fields in declaration order); numbers stay as they are.

    Raises:
        ValueError: a range that is not two numbers with ``low <= high``.
    """
    _check_ranges(imaging)
    drawn = {name: float(rng.uniform(*value)) for name, value in asdict(imaging).items()
             if isinstance(value, (tuple, list))}
    return replace(imaging, **drawn)


def _check_ranges(imaging: ImagingParameters) -> None:
    for name, value in asdict(imaging).items():
        if isinstance(value, (tuple, list)) and not (
                len(value) == 2 and all(isinstance(v, (int, float)) for v in value) and value[0] <= value[1]):
            raise ValueError(f"imaging parameter {name}: expected a number or a range [low, high], got {list(value)}")


def parameters_dict(parameters) -> dict:
    """A parameters dataclass as a JSON-ready dictionary."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(parameters).items()}


def _with_overrides(defaults, kind: str, overrides: dict | None):
    """``defaults`` (a parameters dataclass) with ``overrides`` (field name to value; a range as a
    list or tuple) applied; an unknown field name raises a ValueError naming ``kind``."""
    overrides = dict(overrides or {})
    known = asdict(defaults)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown {kind} parameter(s) {unknown}; known: {sorted(known)}")
    return replace(defaults, **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in overrides.items()})


def imaging_parameters(overrides: dict | None = None) -> ImagingParameters:
    """The default :class:`ImagingParameters` with ``overrides`` (field name to value) applied.

    Raises:
        ValueError: an override names no field of :class:`ImagingParameters`, or gives a range that
            is not two numbers ``low <= high``.
    """
    imaging = _with_overrides(ImagingParameters(), "imaging", overrides)
    _check_ranges(imaging)
    return imaging


def specimen_parameters(overrides: dict | None = None) -> SpecimenParameters:
    """The default :class:`SpecimenParameters` with ``overrides`` (field name to value; a range as a
    list or tuple) applied.

    Raises:
        ValueError: an override names no field of :class:`SpecimenParameters`.
    """
    return _with_overrides(SpecimenParameters(), "specimen", overrides)


def simulator_settings(imaging: ImagingParameters = ImagingParameters(),
                       specimen: SpecimenParameters = SpecimenParameters()) -> dict:
    """The settings (JSON-ready) a cached simulated volume must have been drawn with: the specimen
    distributions and the imaging settings."""
    return {"specimen_distributions": parameters_dict(specimen), "imaging": parameters_dict(imaging)}
