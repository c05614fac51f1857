"""Realism measures (catseg3d.simulation.realism) on phantoms of known geometry, on the real patches,
and the report script end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_script
from scipy import ndimage

from catseg3d.simulation import realism

SPACING = 0.12


def test_class_fractions_and_histograms_match_numpy_counts():
    rng = np.random.default_rng(0)
    label = rng.choice(3, size=(40, 50), p=[0.7, 0.25, 0.05]).astype(np.uint8)
    image = rng.integers(0, 256, size=label.shape, dtype=np.uint8)
    expected = [(label == c).sum() / label.size for c in range(3)]
    np.testing.assert_allclose(realism.class_fractions(label), expected)
    histograms = realism.class_histograms(image, label)
    assert histograms.shape == (3, 256)
    for c in range(3):
        np.testing.assert_array_equal(histograms[c], np.histogram(image[label == c], bins=256, range=(0, 256))[0])
    stats = realism.slice_statistics(image, label, SPACING)
    assert stats["fraction_alumina"] == pytest.approx(expected[1])
    assert stats["mean_pt"] == pytest.approx(image[label == 2].mean())
    assert stats["median_alumina"] == pytest.approx(np.median(image[label == 1]))
    assert stats["dim_background"] == pytest.approx((image[label == 0] >= 25).sum() / (label == 0).sum())


def test_contrast_of_a_two_level_phantom():
    label = np.zeros((64, 64), dtype=np.uint8)
    label[16:48, 16:48] = 1
    label[30:34, 30:34] = 2
    image = np.full(label.shape, 5, dtype=np.uint8)
    image[label == 1] = np.where(np.indices((64, 64)).sum(0) % 2 == 0, 50, 70)[label == 1]  # median 60, SD 10
    image[label == 2] = 200
    stats = realism.slice_statistics(image, label, SPACING)
    assert stats["sd_alumina"] == pytest.approx(10.0, abs=0.05)
    assert stats["contrast_pt_alumina"] == pytest.approx((200 - 60) / stats["sd_alumina"])
    assert stats["mean_ratio_pt_alumina"] == pytest.approx(200 / image[label == 1].mean())
    assert stats["contrast_alumina_background"] == pytest.approx((60 - 5) / stats["sd_alumina"])


def test_texture_leaves_out_class_edges_and_measures_noise():
    label = np.zeros((96, 96), dtype=np.uint8)
    label[20:76, 20:76] = 1
    flat = np.where(label == 1, 60, 5).astype(np.uint8)
    assert realism.texture(flat, label == 1, SPACING) == pytest.approx(0.0, abs=1e-9)
    noise = np.random.default_rng(1).normal(0, 10, size=label.shape)
    noisy = np.clip(np.rint(flat + noise), 0, 255).astype(np.uint8)
    # white noise minus its Gaussian(sigma 2 px) smoothing: variance 1 - 2 g(0) + sum g^2 = 1 - 3 / (4 pi sigma^2)
    expected = 10 * np.sqrt(1 - 3 / (4 * np.pi * 2 ** 2))
    assert realism.texture(noisy, label == 1, SPACING) == pytest.approx(expected, rel=0.1)
    assert np.isnan(realism.texture(noisy, np.zeros_like(label, dtype=bool), SPACING))


@pytest.mark.parametrize("radius", [3, 6, 10])
def test_disc_gives_its_equivalent_diameter(radius):
    label = np.zeros((64, 64), dtype=np.uint8)
    y, x = np.indices(label.shape)
    label[(y - 32) ** 2 + (x - 30) ** 2 <= radius ** 2] = 2
    diameters = realism.pt_diameters(label, SPACING)
    assert diameters.shape == (1,)
    assert abs(diameters[0] - 2 * radius * SPACING) < SPACING


def test_pt_components_are_8_connected():
    label = np.zeros((20, 20), dtype=np.uint8)
    label[5, 5] = label[6, 6] = 2  # corner neighbours: one particle
    label[12:14, 12:14] = 2
    diameters = realism.pt_diameters(label, 0.5)
    np.testing.assert_allclose(sorted(diameters), 2 * np.sqrt(np.array([2, 4]) * 0.25 / np.pi))
    assert realism.slice_statistics(np.zeros_like(label), label, 0.5)["pt_count"] == 2


@pytest.mark.parametrize("thickness", [9, 10, 21])
def test_slab_gives_its_thickness(thickness):
    mask = np.zeros((80, 120), dtype=bool)
    mask[30:30 + thickness, :] = True
    values = realism.local_thickness(mask, SPACING)
    assert abs(np.median(values) - thickness * SPACING) <= SPACING + 1e-9
    label = mask.astype(np.uint8)
    stats = realism.slice_statistics(np.zeros(mask.shape, dtype=np.uint8), label, SPACING)
    assert abs(stats["alumina_thickness_nm"] - thickness * SPACING) <= SPACING + 1e-9


def test_white_noise_has_a_flat_spectrum_and_blurred_noise_the_gaussian_fall_off():
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(256, 256))
    frequency, white = realism.radial_power_spectrum(noise, SPACING)
    assert frequency[-1] < 1 / (2 * SPACING) and frequency.shape == white.shape == (32,)
    assert np.all((white > 0.6) & (white < 1.6))
    assert np.mean(white[-8:]) / np.mean(white[:8]) == pytest.approx(1.0, abs=0.15)
    assert realism.high_frequency_fraction(noise) == pytest.approx(0.75, abs=0.03)

    sigma = 2.0  # pixels; the blur's power transfer is exp(-4 pi^2 sigma^2 f^2), f in cycles per pixel
    frequency, blurred = realism.radial_power_spectrum(ndimage.gaussian_filter(noise, sigma), SPACING)
    assert np.all(np.diff(blurred[:12]) < 0)
    f_px = frequency[1:11] * SPACING  # rings up to 0.17 cycles per pixel, above the window's reach
    slope = np.polyfit(f_px ** 2, np.log(blurred[1:11]), 1)[0]
    assert slope == pytest.approx(-4 * np.pi ** 2 * sigma ** 2, rel=0.12)
    with pytest.raises(ValueError, match="constant"):
        realism.radial_power_spectrum(np.ones((32, 32)), SPACING)


def test_streaks_along_one_axis_are_anisotropic_and_noise_is_not():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(256, 256))
    streaks_along_0 = np.tile(rng.normal(size=256), (256, 1)) + 0.2 * noise  # constant down each column
    assert realism.anisotropy(noise) == pytest.approx(1.0, abs=0.1)
    assert realism.anisotropy(streaks_along_0) < 0.1
    assert realism.anisotropy(streaks_along_0.T) > 10
    angle, power = realism.angular_power(streaks_along_0, n_angles=18)
    assert angle[np.nanargmax(power)] < 10 or angle[np.nanargmax(power)] > 170
    as_u8 = [np.clip(np.rint(128 + 30 * a), 0, 255).astype(np.uint8) for a in (noise, streaks_along_0.T)]
    label = np.zeros(noise.shape, dtype=np.uint8)
    strengths = [realism.slice_statistics(a, label, SPACING)["streak_strength_residual"] for a in as_u8]
    assert strengths[0] < 0.15 and strengths[1] > np.log2(10)


def test_bad_arguments_name_what_was_expected():
    image = np.zeros((16, 16), dtype=np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        realism.slice_statistics(image.astype(np.float32), image, SPACING)
    with pytest.raises(ValueError, match=r"shape \(16, 8\)"):
        realism.slice_statistics(image, image[:, :8], SPACING)
    with pytest.raises(ValueError, match="labels 0, 1, 2"):
        realism.slice_statistics(image, image + 3, SPACING)
    with pytest.raises(ValueError, match="pixel size"):
        realism.slice_statistics(image, image, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        realism.realism_summary([])


def test_summary_is_mean_and_sd_over_slices_and_json_ready():
    rng = np.random.default_rng(4)
    samples = []
    for k in range(3):
        label = np.zeros((64, 64), dtype=np.uint8)
        label[10:30 + 5 * k, 8:50] = 1
        label[40:44, 40:44] = 2
        image = np.clip(rng.normal(30, 5, size=label.shape) + 50.0 * label, 0, 255).astype(np.uint8)
        samples.append((image, label, SPACING))
    summary = realism.realism_summary(samples)
    fractions = [(s[1] == 1).mean() for s in samples]
    assert summary["n_slices"] == 3 and summary["spacing_nm"] == SPACING
    assert summary["scalars"]["fraction_alumina"]["mean"] == pytest.approx(np.mean(fractions))
    assert summary["scalars"]["fraction_alumina"]["sd"] == pytest.approx(np.std(fractions, ddof=1))
    pooled = np.concatenate([s[0][s[1] == 1] for s in samples]).astype(float)
    assert summary["intensity_pooled"]["alumina"]["mean"] == pytest.approx(pooled.mean())
    assert summary["intensity_pooled"]["alumina"]["sd"] == pytest.approx(pooled.std())
    assert sum(summary["histograms"]["pt"]) == pytest.approx(1.0)
    assert summary["pt_diameters_nm"]["n"] == 3
    json.dumps(summary)


def _real_pairs(src: Path, split: str):
    from catseg3d.io.genc2022 import GENC2022_SPACING_NM, SPLITS, paired_files
    from catseg3d.io.readers import read_volume

    image_folder, mask_folder, _ = SPLITS[split]
    for image_file, mask_file in paired_files(src / image_folder, src / mask_folder):
        yield (read_volume(image_file, spacing=GENC2022_SPACING_NM).array,
               read_volume(mask_file, spacing=GENC2022_SPACING_NM).array, GENC2022_SPACING_NM)


def test_real_training_patches_reproduce_the_stated_levels(genc_src):
    """All pixels of the 45 training patches: background 8.6 ± 11.1, alumina 59.1 ± 20.4, Pt 205 ± 57."""
    pairs = list(_real_pairs(genc_src, "training"))
    assert len(pairs) == 45
    histograms = sum(realism.class_histograms(image, label) for image, label, _ in pairs)
    levels = np.arange(256)
    for c, (mean, sd) in enumerate([(8.6, 11.1), (59.1, 20.4), (205.0, 57.0)]):
        counts = histograms[c]
        measured_mean = (counts * levels).sum() / counts.sum()
        measured_sd = np.sqrt((counts * (levels - measured_mean) ** 2).sum() / counts.sum())
        assert measured_mean == pytest.approx(mean, abs=1.0)
        assert measured_sd == pytest.approx(sd, abs=1.0)
    image, label, spacing = pairs[3]
    once, again = (realism.slice_statistics(image, label, spacing)["alumina_thickness_nm"] for _ in range(2))
    assert once == again  # the medial axis's tie-breaking is seeded
    summary = realism.realism_summary(pairs[:3])  # the summary pools pixels the same way
    pooled = np.concatenate([image[label == 1] for image, label, _ in pairs[:3]]).astype(float)
    assert summary["intensity_pooled"]["alumina"]["mean"] == pytest.approx(pooled.mean())


def test_halo_levels_are_the_background_means_at_each_distance_from_the_alumina():
    """A straight alumina edge (columns 0-39) and a background fading with the column and rising with
    the row: each band's level is the mean over the background pixels at those distances (column - 39
    pixels), leaving out those within 2 nm (the outermost band) of a Pt particle; distances by brute force."""
    spacing = 0.12
    rows, cols = np.mgrid[:60, :100]
    label = np.zeros((60, 100), np.uint8)
    label[:, :40] = 1
    label[:5, 45:48] = 2  # a Pt particle in the background
    image = np.where(label == 1, 60.0, 50.0 * np.exp(-(cols - 39) / 8.0) + 0.2 * rows)
    image[label == 2] = 200.0
    levels = realism.halo_levels(image, label, spacing)

    pt = np.argwhere(label == 2)
    to_pt = np.min(np.hypot(rows[..., None] - pt[:, 0], cols[..., None] - pt[:, 1]), axis=-1) * spacing
    to_alumina = (cols - 39) * spacing
    assert [realism.halo_name(b) for b in realism.HALO_BANDS_NM] == ["halo_0_0.5nm", "halo_0.5_1nm", "halo_1_2nm"]
    for level, (low, high) in zip(levels, realism.HALO_BANDS_NM):
        kept = (label == 0) & (to_alumina > low) & (to_alumina <= high) & (to_pt > 2.0)
        assert level == pytest.approx(image[kept].mean(), rel=1e-9)
    assert levels[0] > levels[1] > levels[2]
    assert np.isnan(realism.halo_levels(image, np.zeros_like(label), spacing)).all()  # no alumina: undefined
    assert realism.slice_statistics(image.astype(np.uint8), label, spacing)["halo_0.5_1nm"] == pytest.approx(
        realism.halo_levels(image.astype(np.uint8), label, spacing)[1])


def test_edge_levels_are_the_means_of_the_labelled_edge_pixels():
    """Alumina and Pt blobs on a ramp image: each edge level is the mean over the class's pixels with an
    eight-neighbour of the other kind (background for alumina, anything else for Pt), alumina edge
    pixels within 1 nm of Pt left out; found by looping over the pixels and their neighbours."""
    rng = np.random.default_rng(3)
    spacing = 0.12
    rows, cols = np.mgrid[:50, :70]
    label = np.zeros((50, 70), np.uint8)
    label[(rows - 25) ** 2 + (cols - 25) ** 2 < 18 ** 2] = 1
    label[(rows - 10) ** 2 + (cols - 40) ** 2 < 4 ** 2] = 2  # a particle on the alumina's edge
    label[40:44, 60:70] = 2  # one cut by the border
    image = rng.uniform(0, 255, label.shape)
    expected = {1: [], 2: []}
    pt = np.argwhere(label == 2)
    for y in range(50):
        for x in range(70):
            c = label[y, x]
            if c == 0:
                continue
            neighbours = label[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
            if c == 1 and (neighbours == 0).any() and np.hypot(*(pt - (y, x)).T).min() * spacing > 1.0:
                expected[1].append(image[y, x])
            if c == 2 and (neighbours != 2).any():
                expected[2].append(image[y, x])
    levels = realism.edge_levels(image, label, spacing)
    assert len(expected[1]) > 50 and len(expected[2]) > 10
    np.testing.assert_allclose(levels, [np.mean(expected[1]), np.mean(expected[2])], rtol=1e-12)
    assert np.isnan(realism.edge_levels(image, np.where(label == 2, 0, label), spacing)[1])  # no Pt: undefined
    stats = realism.slice_statistics(image.astype(np.uint8), label, spacing)
    assert stats["edge_pt"] == pytest.approx(realism.edge_levels(image.astype(np.uint8), label, spacing)[1])


def test_report_script_runs_end_to_end(genc_src, tmp_path):
    from catseg3d.simulation import simulate_series

    simulate_series(tmp_path / "sim", 1, (64, 64, 64), seed=0, progress=False)
    out = tmp_path / "report"
    result = run_script("realism_report.py", "--real", genc_src, "--simulated", tmp_path / "sim", "--slices", 2,
                        "--max-real", 3, "--out", out)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "| measure | real (n = 3 patches) | simulated (n = 2 slices)" in result.stdout
    assert (out / "realism.png").stat().st_size > 10_000
    report = json.loads((out / "realism.json").read_text())
    assert report["real"]["n_slices"] == 3 and report["simulated"]["n_slices"] == 2
    assert report["simulated_mapping"]["mode"] == "percentile"
    assert set(report["gaps_in_real_sd"]) >= {"contrast_pt_alumina", "anisotropy_residual", "alumina_thickness_nm"}
    # the simulated labels grown as the embedded dataset grows them: more alumina, its edge on dimmer pixels
    grown = tmp_path / "grown"
    result = run_script("realism_report.py", "--real", genc_src, "--simulated", tmp_path / "sim", "--slices", 2,
                        "--max-real", 3, "--out", grown, "--label-margin-nm", 0.3)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    exact, wider = report["simulated"]["scalars"], json.loads((grown / "realism.json").read_text())
    assert wider["label_margin_nm"] == 0.3 and report["label_margin_nm"] == 0.0
    wider = wider["simulated"]["scalars"]
    assert wider["fraction_alumina"]["mean"] > exact["fraction_alumina"]["mean"]
    assert wider["edge_alumina"]["mean"] < exact["edge_alumina"]["mean"]
