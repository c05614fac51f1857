"""How real do simulated slices look? Image statistics to set beside the real annotated patches.

Every function takes one 2D slice in numpy ``(y, x)`` order (rows along axis 0, columns along
axis 1; for a slice across the tilt axis read ``(z, x)``), square pixels of ``spacing_nm``
nanometres, and a label map of the same shape with 0 background/pores, 1 gamma-alumina, 2 Pt.
Intensities are the network's 8-bit input levels (uint8, 0-255): the real patches are 8-bit
already; a simulated float reconstruction must first be mapped the way the model sees it
(:class:`catseg3d.transforms.intensity.IntensityMapping` in ``percentile`` mode, which is how
:func:`catseg3d.simulation.dataset.embedded_dataset` makes its training slices).

:func:`slice_statistics` measures one slice, :func:`realism_summary` a set of slices (mean and
standard deviation over slices, pooled histograms, mean spectra). Nothing here reads files or prints.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from scipy import ndimage
from skimage.morphology import medial_axis

from catseg3d.io.genc2022 import CLASS_NAMES

BACKGROUND, ALUMINA, PT = range(len(CLASS_NAMES))
MID_BAND = (0.1, 0.5)  # mid frequencies, as fractions of the Nyquist frequency
TEXTURE_SIGMA_NM = 0.24  # Gaussian of the texture high-pass: 2 pixels at the data's 0.12 nm
TRUNCATE = 4.0  # the texture Gaussian's radius in sigmas
MIN_TEXTURE_PIXELS = 16
DIM_LEVEL = 25  # 8-bit level from which background counts as a dim mass (the real background's 91st percentile)
HALO_BANDS_NM = ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0))  # distances from the alumina of halo_levels' bands


def _spacing(spacing_nm) -> float:
    spacing = float(spacing_nm)
    if not (np.isfinite(spacing) and spacing > 0):
        raise ValueError(f"expected a positive pixel size in nm, got {spacing_nm!r}")
    return spacing


def _image_2d(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"expected a 2D (y, x) {name} of at least 2 x 2 pixels, got shape {image.shape}")
    return image


def _label_2d(label: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    label = _image_2d(label, "label map")
    if shape is not None and label.shape != shape:
        raise ValueError(f"label map has shape {label.shape}, expected the image's {shape}")
    if label.size and (label.min() < 0 or label.max() > PT):
        raise ValueError(f"expected labels 0, 1, 2, got values {np.unique(label).tolist()}")
    return label.astype(np.uint8, copy=False)


def _pair(image_u8: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = _image_2d(image_u8)
    if image.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit (uint8) image of network input levels, got dtype {image.dtype}")
    return image, _label_2d(label, image.shape)


def class_fractions(label: np.ndarray) -> np.ndarray:
    """Fraction of the slice's pixels in each class: float64 ``(3,)`` (background, alumina, Pt), sum 1."""
    label = _label_2d(label)
    return np.bincount(label.ravel(), minlength=3)[:3] / label.size


def class_histograms(image_u8: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Pixel counts of each 8-bit level per class: int64 ``(3, 256)``, row ``c`` for label ``c``."""
    image, label = _pair(image_u8, label)
    codes = label.ravel().astype(np.int64) * 256 + image.ravel()
    return np.bincount(codes, minlength=3 * 256).reshape(3, 256)


def _normalised_power(image: np.ndarray, window: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2D power of ``image`` minus its mean (Hann-windowed), divided by its mean over all non-zero
    frequencies, with the radius (fraction of Nyquist) and angle (degrees in [0, 180), 0 along axis 1)
    of each frequency; the zero frequency is NaN."""
    image = _image_2d(image).astype(np.float64)
    values = image - image.mean()
    if window:
        values = values * np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1]))
    power = np.abs(np.fft.fft2(values)) ** 2
    f0, f1 = np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    radius = np.hypot(f0, f1) / 0.5
    angle = np.degrees(np.arctan2(f0, f1)) % 180.0
    power[0, 0] = np.nan
    scale = np.nanmean(power)
    if not scale > 0:
        raise ValueError(f"the image of shape {image.shape} is constant: it has no power to normalise")
    return power / scale, radius, angle


def radial_power_spectrum(image: np.ndarray, spacing_nm: float, n_bins: int = 32,
                          window: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of ``image`` minus its mean, normalised to mean 1.

    The image (any real dtype, ``(y, x)``) is Hann-windowed (unless ``window`` is False) and its 2D
    power divided by its mean over all non-zero frequencies, so white noise gives 1 at every
    frequency and a blurred image a spectrum that falls with frequency. The power is then averaged
    in ``n_bins`` equal rings between 0 and the Nyquist frequency (the zero frequency and the
    corners beyond Nyquist left out); a ring holding no frequency of the grid is NaN.

    Returns:
        ``(frequency, power)``: float64 ``(n_bins,)`` each; ``frequency`` the ring centres in cycles
        per nm (Nyquist is ``1 / (2 spacing_nm)``).

    Raises:
        ValueError: not a 2D image, a constant image, a bad pixel size or ``n_bins`` < 1.
    """
    spacing = _spacing(spacing_nm)
    if n_bins < 1:
        raise ValueError(f"expected n_bins >= 1, got {n_bins}")
    power, radius, _ = _normalised_power(image, window)
    inside = (radius > 0) & (radius <= 1.0)
    index = np.minimum((radius[inside] * n_bins).astype(np.int64), n_bins - 1)
    sums = np.bincount(index, weights=power[inside], minlength=n_bins)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        spectrum = np.where(counts > 0, sums / counts, np.nan)
    frequency = (np.arange(n_bins) + 0.5) / n_bins / (2.0 * spacing)
    return frequency, spectrum


def high_frequency_fraction(image: np.ndarray, window: bool = True) -> float:
    """Share of the power (mean-subtracted, Hann-windowed) between half and full Nyquist, out of all
    power up to Nyquist: 0.75 for white noise (the area share), near 0 for a smooth image."""
    power, radius, _ = _normalised_power(image, window)
    inside = (radius > 0) & (radius <= 1.0)
    return float(power[inside & (radius > 0.5)].sum() / power[inside].sum())


def angular_power(image: np.ndarray, n_angles: int = 36, band: Sequence[float] = MID_BAND,
                  window: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean normalised power per direction of the frequency vector, within a band of frequencies.

    The angle of a frequency ``(f0, f1)`` (``f0`` along axis 0, ``f1`` along axis 1) is
    ``atan2(f0, f1)`` folded into [0, 180) degrees: 0 degrees is intensity varying along axis 1
    (x), 90 degrees along axis 0 (y, or z in a ``(z, x)`` slice). Streaks that run along axis 0
    put their power near 0 degrees.

    Args:
        image: ``(y, x)`` image, any real dtype.
        n_angles: number of equal angle bins over [0, 180).
        band: ``(low, high)`` frequency radius as fractions of Nyquist.

    Returns:
        ``(angle_deg, power)``: float64 ``(n_angles,)`` bin centres and mean power (NaN where a bin
        holds no frequency).
    """
    low, high = _band(band)
    power, radius, angle = _normalised_power(image, window)
    inside = (radius >= low) & (radius <= high) & (radius > 0)
    index = np.minimum((angle[inside] / 180.0 * n_angles).astype(np.int64), n_angles - 1)
    sums = np.bincount(index, weights=power[inside], minlength=n_angles)
    counts = np.bincount(index, minlength=n_angles)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
    return (np.arange(n_angles) + 0.5) * 180.0 / n_angles, mean


def _band(band: Sequence[float]) -> tuple[float, float]:
    low, high = (float(b) for b in band)
    if not 0 <= low < high <= 1:
        raise ValueError(f"expected a frequency band 0 <= low < high <= 1 (fractions of Nyquist), got {band}")
    return low, high


def anisotropy(image: np.ndarray, band: Sequence[float] = MID_BAND, half_width_deg: float = 22.5,
               window: bool = True) -> float:
    """Power varying along axis 0 over power varying along axis 1, at mid frequencies.

    The mean normalised power of the frequencies within ``half_width_deg`` of the axis-0 frequency
    direction (90 degrees in :func:`angular_power`), divided by that within ``half_width_deg`` of
    the axis-1 direction (0 degrees), both in the ``band`` of radii (fractions of Nyquist). About 1
    for isotropic texture. Streaks running along axis 0 (intensity constant along y, changing along
    x), such as missing-wedge streaks along the beam ``z`` in a ``(z, x)`` slice, give a ratio well
    below 1; streaks along axis 1 a ratio well above 1.
    """
    low, high = _band(band)
    power, radius, angle = _normalised_power(image, window)
    inside = (radius >= low) & (radius <= high) & (radius > 0)
    along_0 = inside & (np.abs(angle - 90.0) <= half_width_deg)
    along_1 = inside & ((angle <= half_width_deg) | (angle >= 180.0 - half_width_deg))
    if not (along_0.any() and along_1.any()):
        raise ValueError(f"image of shape {np.shape(image)} has no frequencies in the band {band}")
    return float(power[along_0].mean() / power[along_1].mean())


def texture(image: np.ndarray, mask: np.ndarray, spacing_nm: float, sigma_nm: float = TEXTURE_SIGMA_NM) -> float:
    """Standard deviation (image levels) of the high-pass ``image - gaussian(image, sigma)`` inside
    ``mask`` eroded by ``ceil(4 sigma)`` pixels, the Gaussian's reach (truncated at 4 sigma), so that
    nothing outside the mask, such as the class boundaries' edges, enters.

    Args:
        image: ``(y, x)`` intensities.
        mask: boolean ``(y, x)``, e.g. ``label == 1`` for the alumina texture.
        spacing_nm: pixel size; ``sigma_nm`` is converted to pixels with it.

    Returns:
        The standard deviation, or NaN when fewer than :data:`MIN_TEXTURE_PIXELS` pixels remain.
    """
    image = _image_2d(image).astype(np.float64)
    mask = _image_2d(mask, "mask").astype(bool)
    if mask.shape != image.shape:
        raise ValueError(f"mask has shape {mask.shape}, expected the image's {image.shape}")
    sigma = float(sigma_nm) / _spacing(spacing_nm)
    if not sigma > 0:
        raise ValueError(f"expected a positive sigma_nm, got {sigma_nm}")
    inner = ndimage.distance_transform_edt(mask) > np.ceil(TRUNCATE * sigma)
    if inner.sum() < MIN_TEXTURE_PIXELS:
        return float("nan")
    return float((image - ndimage.gaussian_filter(image, sigma, truncate=TRUNCATE))[inner].std())


def halo_name(band_nm: Sequence[float]) -> str:
    """The :func:`slice_statistics` key of a band of :func:`halo_levels`, e.g. ``halo_0.5_1nm``."""
    return "halo_{:g}_{:g}nm".format(*band_nm)


def halo_levels(image: np.ndarray, label: np.ndarray, spacing_nm: float,
                bands_nm: Sequence[Sequence[float]] = HALO_BANDS_NM) -> np.ndarray:
    """Mean level of the background pixels at each band of distance from the alumina: how far the
    support's edge fades out beyond its labelled outline (the edge's blur and halo, and dim matter
    beside the support, which the labels call background).

    A background (label 0) pixel's distance is from its centre to the nearest alumina (label 1)
    pixel centre, in nm; band ``(low, high)`` holds the distances ``low < d <= high``. Background
    pixels within the outermost band's reach of a Pt (label 2) pixel are left out (Pt's own halo).

    Args:
        image: ``(y, x)`` levels (any real dtype); label: ``(y, x)`` labels 0, 1, 2.
        spacing_nm: square pixel size.
        bands_nm: ``(low, high)`` distance bands in nm.

    Returns:
        float64 ``(n_bands,)``: the mean level per band, NaN where a band holds no pixel (no alumina,
        or no background there).
    """
    image = _image_2d(image).astype(np.float64)
    label = _label_2d(label, image.shape)
    spacing = _spacing(spacing_nm)
    levels = np.full(len(bands_nm), np.nan)
    if not (label == ALUMINA).any():
        return levels
    distance = ndimage.distance_transform_edt(label != ALUMINA) * spacing
    reach = max(float(high) for _, high in bands_nm)
    far_from_pt = ndimage.distance_transform_edt(label != PT) * spacing > reach if (label == PT).any() else True
    background = (label == BACKGROUND) & far_from_pt
    for k, (low, high) in enumerate(bands_nm):
        band = background & (distance > low) & (distance <= high)
        if band.any():
            levels[k] = image[band].mean()
    return levels


def edge_levels(image: np.ndarray, label: np.ndarray, spacing_nm: float, pt_reach_nm: float = 1.0) -> np.ndarray:
    """Mean level of the labelled edge of the alumina and of the Pt: where the labels put the
    outline on the edge's blurred ramp. Annotators who take in the blurred edge pixels put it at a
    lower level than exact labels of the same image do.

    The alumina's edge pixels are alumina (1) pixels with a background (0) pixel among their eight
    neighbours, leaving out those within ``pt_reach_nm`` of a Pt pixel (brightened by the Pt); the
    Pt's are Pt (2) pixels with a non-Pt pixel among their eight neighbours. Neighbours beyond the
    slice's border do not count.

    Args:
        image: ``(y, x)`` levels (any real dtype); label: ``(y, x)`` labels 0, 1, 2.
        spacing_nm: square pixel size; pt_reach_nm: the distance from Pt that alumina edge pixels keep.

    Returns:
        float64 ``(2,)``: the alumina's and the Pt's mean edge level, NaN where a class has no edge pixel.
    """
    image = _image_2d(image).astype(np.float64)
    label = _label_2d(label, image.shape)
    spacing = _spacing(spacing_nm)
    eight = np.ones((3, 3), bool)
    beside_background = ndimage.binary_dilation(label == BACKGROUND, structure=eight)
    alumina_edge = (label == ALUMINA) & beside_background
    if (label == PT).any():
        alumina_edge &= ndimage.distance_transform_edt(label != PT) * spacing > pt_reach_nm
    pt_edge = (label == PT) & ndimage.binary_dilation(label != PT, structure=eight)
    return np.array([image[edge].mean() if edge.any() else np.nan for edge in (alumina_edge, pt_edge)])


def pt_diameters(label: np.ndarray, spacing_nm: float, min_pixels: int = 1) -> np.ndarray:
    """Equivalent-circle diameters ``2 sqrt(area / pi)`` in nm of the 8-connected Pt (label 2)
    components of at least ``min_pixels`` pixels, float64 ``(n,)`` in component order; components
    cut by the slice's border count with their visible part."""
    label = _label_2d(label)
    spacing = _spacing(spacing_nm)
    components, count = ndimage.label(label == PT, structure=np.ones((3, 3), dtype=bool))
    pixels = np.bincount(components.ravel(), minlength=count + 1)[1:]
    pixels = pixels[pixels >= min_pixels]
    return 2.0 * np.sqrt(pixels * spacing ** 2 / np.pi)


def local_thickness(mask: np.ndarray, spacing_nm: float) -> np.ndarray:
    """Local thickness in nm along the medial axis of ``mask`` (e.g. ``label == 1``), float64 ``(n,)``.

    At each medial-axis pixel (:func:`skimage.morphology.medial_axis`) the Euclidean distance ``d``
    (pixels) to the nearest pixel outside the mask measures the half-width to the next pixel centre
    outside, so the thickness across is ``2 d - 1`` pixels: exact for a band an odd number of
    pixels wide, one pixel short for an even one. The slice's border does not count as outside.
    """
    mask = _image_2d(mask, "mask").astype(bool)
    spacing = _spacing(spacing_nm)
    try:  # the skeleton breaks ties at random: seed it so that a slice always gives the same thickness
        skeleton, distance = medial_axis(mask, return_distance=True, rng=0)
    except TypeError:  # scikit-image < 0.23 names the seed random_state
        skeleton, distance = medial_axis(mask, return_distance=True, random_state=0)
    return (2.0 * distance[skeleton] - 1.0) * spacing


def _class_stats(values: np.ndarray) -> tuple[float, float, float]:
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    values = values.astype(np.float64)
    return float(values.mean()), float(values.std()), float(np.median(values))


def slice_statistics(image_u8: np.ndarray, label: np.ndarray, spacing_nm: float, n_bins: int = 32,
                     n_angles: int = 36) -> dict:
    """All realism measures of one slice.

    Args:
        image_u8: uint8 ``(y, x)`` network input levels (see the module docstring for how a float
            reconstruction is mapped).
        label: ``(y, x)`` labels 0 background, 1 alumina, 2 Pt.
        spacing_nm: square pixel size in nm.
        n_bins: rings of the radial power spectra; n_angles: bins of the angular power.

    Returns:
        A dictionary; scalars are floats (NaN where a class is missing or a ratio's denominator is 0):

        * ``fraction_{background,alumina,pt}``: pixel fractions (:func:`class_fractions`);
        * ``mean_*``, ``sd_*``, ``median_*`` per class: the levels of the class's pixels;
        * ``contrast_pt_alumina``: ``(median Pt - median alumina) / sd alumina``;
          ``mean_ratio_pt_alumina``: ``mean Pt / mean alumina``;
          ``contrast_alumina_background``: ``(median alumina - median background) / sd alumina``;
        * ``dim_background``: the fraction of background pixels at level :data:`DIM_LEVEL` or above
          (dim masses that the labels call background: out-of-focus or amorphous matter);
        * ``texture_alumina``, ``texture_background``: :func:`texture` of each class;
        * ``halo_0_0.5nm``, ``halo_0.5_1nm``, ``halo_1_2nm``: :func:`halo_levels`, the mean level of
          the background at those distances from the alumina;
        * ``edge_alumina``, ``edge_pt``: :func:`edge_levels`, the mean level of each class's
          labelled edge pixels;
        * ``high_frequency_fraction_residual``: :func:`high_frequency_fraction` of the residual;
        * ``anisotropy_image``, ``anisotropy_residual``: :func:`anisotropy` of the image and of the
          residual, where the residual is the image minus each pixel's class mean (noise,
          texture, artefacts and edge blur without the piecewise-constant scene);
          ``streak_strength_image``, ``streak_strength_residual``: ``|log2 anisotropy|``, the same
          without its orientation (0 isotropic, 1 a two-fold power imbalance between the axes);
        * ``pt_count``, ``pt_per_100nm2`` (components per 100 nm^2 of slice), ``pt_diameter_median_nm``;
          ``alumina_thickness_nm``: the median :func:`local_thickness` of the alumina;

        and arrays: ``histograms`` int64 ``(3, 256)``, ``spectrum_frequency_cycles_per_nm``,
        ``spectrum_image``, ``spectrum_residual`` ``(n_bins,)`` (:func:`radial_power_spectrum`;
        NaN if constant), ``angle_deg`` and ``angular_power_residual`` ``(n_angles,)``,
        ``pt_diameters_nm`` ``(n,)``.

    Raises:
        ValueError: a non-uint8 or non-2D image, a label map of another shape or with values other
            than 0, 1, 2, or a bad pixel size.
    """
    image, label = _pair(image_u8, label)
    spacing = _spacing(spacing_nm)
    stats: dict = {"spacing_nm": spacing, "shape": tuple(int(s) for s in image.shape)}
    for name, fraction in zip(CLASS_NAMES, class_fractions(label)):
        stats[f"fraction_{name}"] = float(fraction)
    class_means = np.zeros(3)
    for c, name in enumerate(CLASS_NAMES):
        mean, sd, median = _class_stats(image[label == c])
        stats[f"mean_{name}"], stats[f"sd_{name}"], stats[f"median_{name}"] = mean, sd, median
        class_means[c] = 0.0 if np.isnan(mean) else mean
    sd_alumina = stats["sd_alumina"]
    stats["contrast_pt_alumina"] = _ratio(stats["median_pt"] - stats["median_alumina"], sd_alumina)
    stats["mean_ratio_pt_alumina"] = _ratio(stats["mean_pt"], stats["mean_alumina"])
    stats["contrast_alumina_background"] = _ratio(stats["median_alumina"] - stats["median_background"], sd_alumina)
    background = image[label == BACKGROUND]
    stats["dim_background"] = float((background >= DIM_LEVEL).mean()) if background.size else float("nan")
    stats["texture_alumina"] = texture(image, label == ALUMINA, spacing)
    stats["texture_background"] = texture(image, label == BACKGROUND, spacing)
    for band, level in zip(HALO_BANDS_NM, halo_levels(image, label, spacing)):
        stats[halo_name(band)] = float(level)
    stats["edge_alumina"], stats["edge_pt"] = (float(level) for level in edge_levels(image, label, spacing))

    residual = image.astype(np.float64) - class_means[label]
    frequency, stats["spectrum_image"] = _spectrum_or_nan(image, spacing, n_bins)
    _, stats["spectrum_residual"] = _spectrum_or_nan(residual, spacing, n_bins)
    stats["spectrum_frequency_cycles_per_nm"] = frequency
    try:
        stats["high_frequency_fraction_residual"] = high_frequency_fraction(residual)
        stats["anisotropy_residual"] = anisotropy(residual)
        stats["angle_deg"], stats["angular_power_residual"] = angular_power(residual, n_angles)
    except ValueError:  # a residual without power (a noise-free phantom), or a slice too small for the band
        stats["high_frequency_fraction_residual"] = stats["anisotropy_residual"] = float("nan")
        stats["angle_deg"] = (np.arange(n_angles) + 0.5) * 180.0 / n_angles
        stats["angular_power_residual"] = np.full(n_angles, np.nan)
    try:
        stats["anisotropy_image"] = anisotropy(image)
    except ValueError:
        stats["anisotropy_image"] = float("nan")
    for kind in ("image", "residual"):
        stats[f"streak_strength_{kind}"] = float(abs(np.log2(stats[f"anisotropy_{kind}"])))

    diameters = pt_diameters(label, spacing)
    stats["pt_diameters_nm"] = diameters
    stats["pt_count"] = float(diameters.size)
    stats["pt_per_100nm2"] = float(100.0 * diameters.size / (image.size * spacing ** 2))
    stats["pt_diameter_median_nm"] = float(np.median(diameters)) if diameters.size else float("nan")
    thickness = local_thickness(label == ALUMINA, spacing)
    stats["alumina_thickness_nm"] = float(np.median(thickness)) if thickness.size else float("nan")
    stats["histograms"] = class_histograms(image, label)
    return stats


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN unless the denominator is positive and both are finite."""
    if not (np.isfinite(numerator) and np.isfinite(denominator) and denominator > 0):
        return float("nan")
    return float(numerator / denominator)


def _spectrum_or_nan(image: np.ndarray, spacing: float, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        return radial_power_spectrum(image, spacing, n_bins)
    except ValueError:  # constant image
        return (np.arange(n_bins) + 0.5) / n_bins / (2.0 * spacing), np.full(n_bins, np.nan)


SCALARS = ("fraction_background", "fraction_alumina", "fraction_pt", "mean_background", "mean_alumina", "mean_pt",
           "sd_background", "sd_alumina", "sd_pt", "contrast_pt_alumina", "mean_ratio_pt_alumina",
           "contrast_alumina_background", "dim_background", *(halo_name(band) for band in HALO_BANDS_NM),
           "edge_alumina", "edge_pt",
           "texture_alumina", "texture_background",
           "high_frequency_fraction_residual", "anisotropy_image", "anisotropy_residual",
           "streak_strength_image", "streak_strength_residual", "pt_count",
           "pt_per_100nm2", "pt_diameter_median_nm", "alumina_thickness_nm")


def _mean_sd(values: Iterable[float]) -> dict:
    values = np.asarray(list(values), dtype=np.float64)
    values = values[np.isfinite(values)]
    return {"mean": float(values.mean()) if values.size else float("nan"),
            "sd": float(values.std(ddof=1)) if values.size > 1 else float("nan"), "n": int(values.size)}


def _nanmean_rows(rows: list[np.ndarray]) -> list[float]:
    stacked = np.vstack(rows)
    finite = np.isfinite(stacked)
    sums = np.where(finite, stacked, 0.0).sum(axis=0)
    counts = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [float(v) for v in np.where(counts > 0, sums / counts, np.nan)]


def realism_summary(samples: Iterable[tuple[np.ndarray, np.ndarray, float]], n_bins: int = 32) -> dict:
    """The realism measures of a set of slices, ready for JSON (NaN where undefined).

    Args:
        samples: ``(image_u8, label, spacing_nm)`` per slice, as for :func:`slice_statistics`
            (slices may differ in shape; spectra are averaged ring by ring, rings being fractions
            of Nyquist, so they compare in cycles per nm only at one pixel size).
        n_bins: rings of the radial power spectra.

    Returns:
        ``n_slices``; ``spacing_nm`` (the common pixel size, None if they differ); ``scalars``:
        ``{name: {"mean", "sd", "n"}}`` over the slices where the measure is defined (``sd`` with
        ddof 1), for each name in :data:`SCALARS`; ``intensity_pooled``: per class the ``mean``,
        ``sd`` (ddof 0) and ``median`` of all the class's pixels of all slices, and ``pixels``;
        ``histograms``: per class the pooled level densities (256 values summing to 1, or NaN if
        the class is absent); ``spectrum``: ``frequency_fraction_nyquist``,
        ``frequency_cycles_per_nm`` (None if pixel sizes differ), ``image`` and ``residual``, the
        mean over slices of :func:`radial_power_spectrum`; ``angular``: ``angle_deg`` and
        ``residual`` (:func:`angular_power` at mid frequencies, mean over slices); ``pt_diameters_nm``:
        ``mean``, ``sd`` (ddof 1), ``median``, ``n`` and ``values`` of all Pt components of all slices.

    Raises:
        ValueError: no slices, or any slice that :func:`slice_statistics` refuses.
    """
    per_slice = [slice_statistics(image, label, spacing, n_bins) for image, label, spacing in samples]
    if not per_slice:
        raise ValueError("expected at least one (image_u8, label, spacing_nm) slice, got none")
    spacings = {s["spacing_nm"] for s in per_slice}
    common_spacing = next(iter(spacings)) if len(spacings) == 1 else None
    histograms = np.sum([s["histograms"] for s in per_slice], axis=0).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    pooled, densities = {}, {}
    for c, name in enumerate(CLASS_NAMES):
        counts = histograms[c]
        total = counts.sum()
        if total:
            mean = float((counts * levels).sum() / total)
            sd = float(np.sqrt((counts * (levels - mean) ** 2).sum() / total))
            median = float(np.searchsorted(np.cumsum(counts), total / 2.0))
        else:
            mean = sd = median = float("nan")
        pooled[name] = {"mean": mean, "sd": sd, "median": median, "pixels": int(total)}
        densities[name] = (counts / total if total else np.full(256, np.nan)).tolist()
    diameters = np.concatenate([s["pt_diameters_nm"] for s in per_slice])
    return {
        "n_slices": len(per_slice),
        "spacing_nm": common_spacing,
        "scalars": {name: _mean_sd(s[name] for s in per_slice) for name in SCALARS},
        "intensity_pooled": pooled,
        "histograms": densities,
        "spectrum": {
            "frequency_fraction_nyquist": [float(f) for f in (np.arange(n_bins) + 0.5) / n_bins],
            "frequency_cycles_per_nm": ([float(f) for f in per_slice[0]["spectrum_frequency_cycles_per_nm"]]
                                        if common_spacing is not None else None),
            "image": _nanmean_rows([s["spectrum_image"] for s in per_slice]),
            "residual": _nanmean_rows([s["spectrum_residual"] for s in per_slice]),
        },
        "angular": {"angle_deg": [float(a) for a in per_slice[0]["angle_deg"]],
                    "residual": _nanmean_rows([s["angular_power_residual"] for s in per_slice])},
        "pt_diameters_nm": {**_mean_sd(diameters), "median": float(np.median(diameters)) if diameters.size
                            else float("nan"), "values": [float(d) for d in diameters]},
    }
