"""The simulator: determinism, truth JSON against the labels, physics of the missing wedge, the CLI."""

import json
import sys

import numpy as np
import pytest
from conftest import run_catseg3d, run_in_this_process
from scipy import ndimage

from catseg3d.cli.main import main
from catseg3d.io import read_nifti, read_volume
from catseg3d.io.tilt import load_tilt_series
from catseg3d.simulation import (HAADF_WEIGHTS, haadf_tilt_series, paper_tilt_angles, simulate_series,
                                 simulate_specimen, simulate_tomogram)
from catseg3d.simulation.specimen import ALUMINA, CARBON, PLATINUM, VACUUM, SpecimenParameters
from catseg3d.tomography import reconstruct_tilt_series

SHAPE = (96, 96, 96)
SPACING = 0.24


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return simulate_series(out, 2, SHAPE, seed=5, spacing=SPACING, iterations=10, progress=False)


def test_same_seed_same_volumes(tmp_path, series):
    again = simulate_series(tmp_path, 2, SHAPE, seed=5, spacing=SPACING, iterations=10, progress=False)
    for first, second in zip(series, again):
        for name in ("labels", "reconstruction", "tilt_series"):
            assert np.array_equal(read_volume(getattr(first, name)).array, read_volume(getattr(second, name)).array)
        assert json.loads(first.truth.read_text()) == json.loads(second.truth.read_text())
    other = simulate_tomogram(SHAPE, SPACING, seed=6, iterations=1)
    assert not np.array_equal(other.specimen.labels, read_nifti(series[0].labels).array)
    # volume 1 of a series does not depend on volume 0 being drawn first
    alone = simulate_tomogram(SHAPE, SPACING, seed=5, index=1, iterations=10)
    assert np.array_equal(alone.specimen.labels, read_nifti(series[1].labels).array)


def test_truth_json_is_what_the_labels_show(series):
    for files in series:
        labels = read_nifti(files.labels)
        truth = json.loads(files.truth.read_text())["truth"]
        array, spacing = labels.array, labels.spacing
        assert spacing == (SPACING,) * 3
        voxel = SPACING ** 3
        counts = np.bincount(array.ravel(), minlength=3)
        assert [truth["class_voxels"][k] for k in ("background", "alumina", "pt")] == counts.tolist()
        assert truth["alumina"]["support_volume_nm3"] == pytest.approx(counts[1] * voxel)
        components, count = ndimage.label(array == PLATINUM, structure=np.ones((3, 3, 3)))
        assert truth["pt"]["count"] == count == len(truth["pt"]["particles"]) > 0
        sizes = np.bincount(components.ravel())[1:]
        for particle in truth["pt"]["particles"]:
            centre = tuple(int(round(c / SPACING)) for c in particle["centre_nm"])
            assert array[centre] == PLATINUM
            assert particle["voxels"] == sizes[components[centre] - 1]
            assert 1.0 <= particle["diameter_nm"] <= 4.0
            # the voxelised sphere has the designed volume to within a voxel layer
            assert abs(particle["equivalent_diameter_nm"] - particle["diameter_nm"]) <= SPACING
        # every pore is background enclosed by alumina: hole filling of the alumina finds exactly them
        filled = ndimage.binary_fill_holes(array == ALUMINA, structure=np.ones((3, 3, 3)))
        pores = filled & (array == VACUUM)
        assert truth["alumina"]["pore_volume_fraction"] == pytest.approx(pores.sum() / filled.sum())
        assert truth["alumina"]["pore_count"] == ndimage.label(pores, structure=np.ones((3, 3, 3)))[1]
        # every Pt particle touches the alumina within one voxel
        near = ndimage.binary_dilation(array == ALUMINA, structure=np.ones((3, 3, 3)))
        assert all(near[components == k].any() for k in range(1, count + 1))


def test_specimen_design():
    rng = np.random.default_rng(0)
    specimen = simulate_specimen((128, 128, 128), 0.24, rng, SpecimenParameters(carbon_probability=1.0))
    materials = specimen.materials
    assert {VACUUM, ALUMINA, PLATINUM, CARBON} <= set(np.unique(materials).tolist())
    assert not (specimen.labels == CARBON).any()
    # Pt sits preferentially on convex sites (edges, apexes): a flat face has convexity 0.5
    assert np.median([p["convexity"] for p in specimen.particles]) > 0.5
    # the support is a thick grain, not a thin plate: measured on the labels (pores filled), its extent
    # along the beam is at least half its extent across it, and every slice through its middle holds
    # a solid cross-section
    geometry = specimen.geometry
    solid = ndimage.binary_fill_holes(specimen.labels == ALUMINA)
    extent = [np.ptp(np.flatnonzero(solid.any(axis=tuple(a for a in range(3) if a != k)))) * 0.24 for k in range(3)]
    assert extent[0] >= 0.5 * max(extent[1], extent[2])
    middle = np.flatnonzero(solid.any(axis=(1, 2)))
    assert solid[middle[len(middle) // 2]].mean() > 0.1
    # pores are 1.5-3.5 nm wide and up to twice as long (the defaults)
    assert geometry["pores"]
    assert all(1.5 <= p["width_nm"] <= 3.5 and p["width_nm"] <= p["length_nm"] <= 2.0 * p["width_nm"]
               for p in geometry["pores"])


def test_z_contrast_order():
    # rho * Z**1.2 / A per material: Pt 21.45 g/cm^3, Z 78, A 195.08; gamma-Al2O3 3.65, mean Z 10, mean A 20.392
    assert HAADF_WEIGHTS[PLATINUM] / HAADF_WEIGHTS[ALUMINA] == pytest.approx(
        (21.45 / 3.65) * (78 / 10) ** 1.2 * (20.392 / 195.08), rel=1e-6)  # 7.24
    assert HAADF_WEIGHTS[PLATINUM] > 5 * HAADF_WEIGHTS[ALUMINA] > 5 * 1.5 * HAADF_WEIGHTS[CARBON]


def fwhm(profile: np.ndarray) -> float:
    """Full width at half maximum (pixels) of a 1D peak, linearly interpolated."""
    peak = int(np.argmax(profile))
    half = profile[peak] / 2
    left = peak
    while left > 0 and profile[left - 1] > half:
        left -= 1
    right = peak
    while right < len(profile) - 1 and profile[right + 1] > half:
        right += 1
    left_x = left - (profile[left] - half) / (profile[left] - profile[left - 1])
    right_x = right + (profile[right] - half) / (profile[right] - profile[right + 1])
    return right_x - left_x


def extents(volume: np.ndarray) -> tuple[float, float, float]:
    """FWHM (pixels) along z (beam), y (tilt axis) and x through the centre of a centred particle."""
    c = volume.shape[0] // 2
    return fwhm(volume[:, c, c]), fwhm(volume[c, :, c]), fwhm(volume[c, c, :])


def test_missing_wedge_elongates_an_isolated_pt_particle_along_the_beam():
    """A 2 nm Pt sphere alone, the paper's 69 tilts, Poisson noise: SIRT elongates it along z only.

    MLEM's non-negativity confines an isolated particle to the intersection of its backprojected
    strips, which at +-68 degrees reaches only 1/sin(68 deg) = 1.08 times the diameter along the
    beam, so its reconstruction stays nearly round; SIRT, unconstrained, shows the textbook
    elongation (about 1.35 for a +-68 degree range)."""
    n, spacing, radius_nm = 48, 0.24, 1.0
    z, y, x = (np.mgrid[:n, :n, :n] - (n - 1) / 2) * spacing
    materials = np.where(z ** 2 + y ** 2 + x ** 2 <= radius_nm ** 2, PLATINUM, VACUUM).astype(np.uint8)
    angles = paper_tilt_angles()
    assert len(angles) == 69 and angles[0] == -68 and angles[-1] == 68
    projections = haadf_tilt_series(materials, angles, 5000, np.random.default_rng(0))
    beam, tilt_axis, across = extents(reconstruct_tilt_series(projections, angles, "sirt", 50))
    assert beam / across > 1.1 and beam / tilt_axis > 1.1
    assert tilt_axis / across == pytest.approx(1.0, abs=0.05)
    beam_mlem, tilt_axis_mlem, across_mlem = extents(reconstruct_tilt_series(projections, angles, "mlem", 30))
    assert beam_mlem / across_mlem < min(beam / across, 1 / np.sin(np.deg2rad(68)))


def test_noise_scales_with_dose():
    materials = np.zeros((32, 16, 32), np.uint8)
    materials[12:20, :, 8:24] = ALUMINA
    angles = [0.0]
    clean = haadf_tilt_series(materials, angles, None, np.random.default_rng(0))
    assert clean.max() == pytest.approx(8 * HAADF_WEIGHTS[ALUMINA], rel=1e-5)
    inside = clean > 0
    for dose in (100, 10000):
        noisy = haadf_tilt_series(materials, angles, dose, np.random.default_rng(1))
        relative = (noisy[inside] - clean[inside]).std() / clean[inside].mean()
        assert relative == pytest.approx(1 / np.sqrt(dose), rel=0.25)  # Poisson: sd/mean = 1/sqrt(counts)


def test_cli_writes_readable_files_and_refuses_bad_input(tmp_path):
    out = tmp_path / "sims"
    command = ["simulate", out, "--n", "1", "--shape", "64", "64", "64", "--spacing", "0.24", "--seed", "2",
               "--iterations", "5"]
    done = run_catseg3d(*command)
    assert done.returncode == 0, done.stderr
    folder = out / "volume_000"
    recon, labels = read_nifti(folder / "reconstruction.nii.gz"), read_nifti(folder / "labels.nii.gz")
    assert recon.array.shape == labels.array.shape == (64, 64, 64)
    assert recon.spacing == labels.spacing == (0.24, 0.24, 0.24)
    series = load_tilt_series(folder / "tilt_series.mrc", folder / "tilt_series.rawtlt")
    assert series.projections.shape == (69, 64, 64)
    assert np.array_equal(series.angles, paper_tilt_angles())
    assert series.pixel_size == pytest.approx((0.24, 0.24))
    # the written tilt series reconstructs to the written reconstruction
    again = reconstruct_tilt_series(series.projections, series.angles, "mlem", 5, thickness=64)
    np.testing.assert_allclose(again, recon.array, rtol=1e-5, atol=1e-6)
    bad = run_catseg3d(*command[:5], "4", "64", "64")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and str(out) in bad.stderr and "shape (4, 64, 64)" in bad.stderr


def test_depth_blur_acts_along_the_beam_only():
    """``depth_blur_fwhm_nm`` blurs the specimen's scattering weight along z (Gaussian, FWHM = 2.3548
    sigma) before projection: the 0-degree projection (a sum along z) is unchanged, and every one is
    the projection of the weights blurred by scipy."""
    from dataclasses import replace

    from catseg3d.simulation.haadf import project_volume, weight_volume
    from catseg3d.simulation.settings import ImagingParameters

    materials = np.zeros((48, 24, 24), dtype=np.uint8)
    materials[23:25, 4:20, 4:20] = ALUMINA  # a 2-voxel alumina plate normal to the beam
    materials[24, 10:13, 10:13] = PLATINUM  # a Pt particle in it
    angles = np.array([-60.0, 0.0, 60.0])
    ideal = replace(ImagingParameters(), resolution_fwhm_nm=0.0, jitter_nm=0.0, background_fraction=0.0,
                    alignment_blur_fwhm_nm=0.0)
    fwhm = 1.5
    sharp = haadf_tilt_series(materials, angles, None, np.random.default_rng(0), imaging=ideal, spacing_nm=SPACING)
    blurred = haadf_tilt_series(materials, angles, None, np.random.default_rng(0),
                                imaging=replace(ideal, depth_blur_fwhm_nm=fwhm), spacing_nm=SPACING)
    np.testing.assert_allclose(blurred[1], sharp[1], rtol=1e-5, atol=1e-5)
    weights = ndimage.gaussian_filter1d(weight_volume(materials, z_exponent=ideal.z_exponent), fwhm / 2.3548 / SPACING,
                                        axis=0, mode="constant")
    np.testing.assert_allclose(blurred, project_volume(weights, angles), rtol=1e-4, atol=1e-4)
    assert not np.allclose(blurred[0], sharp[0], rtol=1e-3, atol=1e-3)


def test_probe_tail_spreads_a_share_of_the_signal_into_a_wide_gaussian():
    """``probe_tail_fraction`` f of a point's signal goes into a Gaussian of FWHM ``probe_tail_fwhm_nm``,
    the rest into the core's: the degraded image of one bright pixel is, pixel by pixel, the mixture of
    the two sampled 2D Gaussian densities (written out here), and the total signal is kept."""
    from dataclasses import replace

    from catseg3d.simulation.haadf import degrade_projections
    from catseg3d.simulation.settings import ImagingParameters

    size, spacing, core_fwhm, tail_fwhm, fraction = 129, 0.12, 0.6, 3.0, 0.2
    point = np.zeros((1, size, size), dtype=np.float32)
    point[0, size // 2, size // 2] = 1.0
    imaging = replace(ImagingParameters(), resolution_fwhm_nm=core_fwhm, jitter_nm=0.0, background_fraction=0.0,
                      probe_tail_fraction=fraction, probe_tail_fwhm_nm=tail_fwhm)
    image = degrade_projections(point, spacing, imaging, np.random.default_rng(0))[0]
    y, x = np.mgrid[:size, :size] - size // 2
    radius2 = (y * y + x * x).astype(np.float64)

    def density(fwhm_nm):
        sigma = fwhm_nm / (2 * np.sqrt(2 * np.log(2))) / spacing
        return np.exp(-radius2 / (2 * sigma ** 2)) / (2 * np.pi * sigma ** 2)

    expected = (1 - fraction) * density(core_fwhm) + fraction * density(tail_fwhm)
    assert image.sum() == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(image, expected, atol=2e-3 * expected.max())
    far = radius2 > (2 * core_fwhm / spacing) ** 2  # beyond the core, the halo is the tail's alone
    np.testing.assert_allclose(image[far], fraction * density(tail_fwhm)[far], atol=2e-3 * expected.max())
    without = degrade_projections(point, spacing, replace(imaging, probe_tail_fraction=0.0), np.random.default_rng(0))
    assert without[0][far].max() < 1e-6  # no tail: nothing beyond the core
    with pytest.raises(ValueError, match="probe_tail_fraction"):
        degrade_projections(point, spacing, replace(imaging, probe_tail_fraction=1.5), np.random.default_rng(0))


def test_slices_beyond_the_specimen_with_a_margin():
    from catseg3d.simulation.dataset import slice_indices

    labels = np.zeros((40, 4, 4), dtype=np.uint8)
    labels[10:20, 1, 1] = 1  # occupied slices 10..19
    np.testing.assert_array_equal(slice_indices(labels, 5), [11, 13, 15, 17, 19])  # centres of 5 runs of 2
    np.testing.assert_array_equal(slice_indices(labels, 5, margin=5), [7, 11, 15, 19, 23])  # 5..24
    np.testing.assert_array_equal(slice_indices(labels, 2, margin=15), [8, 26])  # 0..34: clipped at 0


def test_slice_label_leaves_pt_tails_from_neighbouring_slices_unlabelled():
    from catseg3d.simulation.dataset import slice_label

    labels = np.zeros((12, 6, 6), dtype=np.uint8)
    labels[:, :3] = 1
    labels[4:7, 1, 1] = 2  # a particle in slices 4..6
    labels[9, 4, 4] = 2  # another in slice 9 only
    np.testing.assert_array_equal(slice_label(labels, 2), labels[2])  # no margin: the exact label
    for z in range(12):
        label = slice_label(labels, z, 2)
        expected = labels[z].copy()
        for y, x, zs in ((1, 1, range(4, 7)), (4, 4, [9])):
            if labels[z, y, x] != 2 and any(abs(z - k) <= 2 for k in zs):
                expected[y, x] = 255
        np.testing.assert_array_equal(label, expected, err_msg=f"slice {z}")
    assert slice_label(labels, 2, 2)[1, 1] == 255 and slice_label(labels, 1, 2)[1, 1] == 1  # 2 slices away, 3 away


def test_grown_labels_take_in_the_pixels_within_the_margin_metal_first():
    """Each background pixel within the margin (in nm, anisotropic pixels) of alumina becomes alumina,
    each non-metal pixel within it of Pt becomes Pt, Pt winning where both reach; unlabelled pixels
    stay; distances by brute force over pixel centres."""
    from catseg3d.simulation.dataset import grow_labels, slice_label

    rng = np.random.default_rng(0)
    label = np.zeros((30, 40), np.uint8)
    label[5:25, :12] = 1
    label[14:17, 11:14] = 2  # a particle on the alumina's edge
    label[3, 30] = 2
    label[rng.random(label.shape) < 0.05] = 255
    spacing, margin = (0.1, 0.15), 0.22
    rows, cols = np.mgrid[:30, :40]

    def within(cls):
        points = np.argwhere(label == cls)
        d = np.hypot((rows[..., None] - points[:, 0]) * spacing[0], (cols[..., None] - points[:, 1]) * spacing[1])
        return d.min(axis=-1) <= margin

    expected = label.copy()
    expected[within(2) & (label != 255)] = 2
    expected[within(1) & (expected == 0)] = 1
    grown = grow_labels(label, margin, spacing)
    np.testing.assert_array_equal(grown, expected)
    assert (grown == 1).sum() > (label == 1).sum() and (grown == 2).sum() > (label == 2).sum()
    np.testing.assert_array_equal(grow_labels(label, 0.0, spacing), label)
    volume = np.stack([label, label])
    np.testing.assert_array_equal(slice_label(volume, 1, margin_nm=margin, spacing_nm=spacing), expected)


def test_imaging_overrides_reach_the_volumes_and_unknown_ones_are_refused(tmp_path):
    from catseg3d.simulation.settings import ImagingParameters, imaging_parameters

    assert imaging_parameters({"depth_blur_fwhm_nm": 2.5}) == ImagingParameters(depth_blur_fwhm_nm=2.5)
    assert imaging_parameters(None) == ImagingParameters()
    with pytest.raises(ValueError, match="depth_blur"):
        imaging_parameters({"depth_blurr": 2.5})
    (files,) = simulate_series(tmp_path, 1, (16, 16, 16), seed=5, spacing=SPACING, iterations=2, progress=False,
                               imaging=imaging_parameters({"z_exponent": 1.7}))
    assert json.loads(files.truth.read_text())["parameters"]["imaging"]["z_exponent"] == 1.7
    (default,) = simulate_series(tmp_path / "default", 1, (16, 16, 16), seed=5, spacing=SPACING, iterations=2,
                                 progress=False)
    assert not np.allclose(read_nifti(files.reconstruction).array, read_nifti(default.reconstruction).array)


def test_imaging_ranges_are_drawn_per_volume_and_recorded(tmp_path):
    """A range of an imaging setting gives each volume its own value, drawn from its own stream
    ``[seed, index, 2]`` (so the specimen and the noise are unchanged), recorded beside the range; a
    range of one value makes the same volume as the number; a bad range is refused."""
    from catseg3d.simulation.settings import draw_imaging, imaging_parameters

    with pytest.raises(ValueError, match="z_exponent.*range"):
        imaging_parameters({"z_exponent": [1.4, 1.1]})
    ranged = imaging_parameters({"z_exponent": [1.1, 1.4], "resolution_fwhm_nm": [0.9, 2.0]})
    common = dict(shape=(16, 16, 16), seed=5, spacing=SPACING, iterations=2, progress=False)
    volumes = simulate_series(tmp_path / "ranged", 3, imaging=ranged, **common)
    drawn = [json.loads(f.truth.read_text())["parameters"] for f in volumes]
    for index, parameters in enumerate(drawn):
        assert parameters["imaging"]["z_exponent"] == [1.1, 1.4]
        expected = np.random.default_rng([5, index, 2]).uniform([1.1, 0.9], [1.4, 2.0])  # fields in declaration order
        assert [parameters["imaging_drawn"]["z_exponent"], parameters["imaging_drawn"]["resolution_fwhm_nm"]] \
            == pytest.approx(expected)
        assert draw_imaging(ranged, np.random.default_rng([5, index, 2])).z_exponent == pytest.approx(expected[0])
    assert len({p["imaging_drawn"]["z_exponent"] for p in drawn}) == 3
    (fixed,) = simulate_series(tmp_path / "fixed", 1, imaging=imaging_parameters({"z_exponent": 1.3}), **common)
    (point,) = simulate_series(tmp_path / "point", 1, imaging=imaging_parameters({"z_exponent": [1.3, 1.3]}),
                               **common)
    np.testing.assert_array_equal(read_nifti(fixed.reconstruction).array, read_nifti(point.reconstruction).array)
    np.testing.assert_array_equal(read_nifti(fixed.labels).array, read_nifti(volumes[0].labels).array)


def test_dim_masses_lie_beside_the_plate_at_its_depth_and_are_labelled_background():
    from catseg3d.simulation.haadf import weight_volume
    from catseg3d.simulation.specimen import AMORPHOUS

    parameters = SpecimenParameters(carbon_probability=0.0, dim_masses=(2, 2), dim_mass_density=(0.5, 0.5),
                                    coat_thickness_nm=(0.0, 0.0))
    specimen = simulate_specimen((96, 96, 96), 0.24, np.random.default_rng(3), parameters)
    materials, masses = specimen.materials, specimen.materials == AMORPHOUS
    assert len(specimen.geometry["dim_masses"]) == 2 and masses.sum() > 1000
    assert (specimen.labels[masses] == 0).all()  # background to the labels
    # beside the plate: no mass voxel inside the plate's outline (pores filled), and masses share
    # slices normal to the beam with the alumina
    solid = ndimage.binary_fill_holes(materials == ALUMINA)
    assert not (masses & solid).any()
    assert (masses.any(axis=(1, 2)) & (materials == ALUMINA).any(axis=(1, 2))).sum() >= 10
    # their HAADF weight: amorphous carbon's (2 g/cm^3, Z 6, A 12.01) times 0.5 times the texture
    weights = weight_volume(materials, specimen.density, 1.2)
    carbon = 2.0 * 6.0 ** 1.2 / 12.01
    np.testing.assert_allclose(weights[masses], carbon * specimen.density[masses], rtol=1e-5)
    texture = specimen.density[masses] / 0.5
    assert texture.std() > 0.2 and texture.mean() == pytest.approx(1.0, abs=0.1)
    # none by default, and the default specimen draws nothing for them (same materials as before)
    default = simulate_specimen((96, 96, 96), 0.24, np.random.default_rng(3),
                                SpecimenParameters(carbon_probability=0.0, coat_thickness_nm=(0.0, 0.0)))
    assert "dim_masses" not in default.geometry and not (default.materials == AMORPHOUS).any()
    again = simulate_specimen((96, 96, 96), 0.24, np.random.default_rng(3),
                              SpecimenParameters(carbon_probability=0.0, dim_mass_radius_nm=(1.0, 1.0),
                                                 coat_thickness_nm=(0.0, 0.0)))
    assert np.array_equal(default.materials, again.materials)


def test_coat_covers_the_outer_surfaces_thinning_with_distance_and_is_labelled_background():
    """Every empty voxel outside the pores within the coat's thickness of an alumina or Pt voxel (centre
    to centre, by a k-d tree here) is coat, of density surface_density * (1 - d / t); the pores stay
    empty, the labels call it background; without a coat nothing else changes."""
    from scipy.spatial import cKDTree

    from catseg3d.simulation.specimen import AMORPHOUS

    spacing, thickness, surface = 0.24, 1.2, 0.5
    parameters = SpecimenParameters(carbon_probability=0.0, grain_contrast=0.0, coat_thickness_nm=(thickness, thickness),
                                    coat_density=(surface, surface))
    specimen = simulate_specimen((96, 96, 96), spacing, np.random.default_rng(4), parameters)
    materials, coat = specimen.materials, specimen.materials == AMORPHOUS
    assert specimen.geometry["coat"] == {"thickness_nm": thickness, "surface_density": surface}
    solid = np.argwhere((materials == ALUMINA) | (materials == PLATINUM)) * spacing
    empty = (materials == VACUUM) | coat
    points = np.argwhere(empty) * spacing
    distance, _ = cKDTree(solid).query(points, distance_upper_bound=thickness + spacing)
    expected = np.zeros(materials.shape, bool)
    expected[empty] = distance <= thickness + 1e-9
    expected &= ~specimen.pore_mask
    np.testing.assert_array_equal(coat, expected)
    assert coat.sum() > 10_000 and not (coat & specimen.pore_mask).any() and specimen.pore_mask.any()
    nearest = np.full(materials.shape, np.inf)
    nearest[empty] = distance
    np.testing.assert_allclose(specimen.density[coat], surface * (1 - nearest[coat] / thickness), atol=1e-5)
    assert (specimen.labels[coat] == 0).all()
    assert SpecimenParameters().coat_thickness_nm == (1.5, 3.5)  # the default specimen has one
    bare = simulate_specimen((96, 96, 96), spacing, np.random.default_rng(4),
                             SpecimenParameters(carbon_probability=0.0, grain_contrast=0.0, coat_thickness_nm=(0, 0)))
    assert "coat" not in bare.geometry and not (bare.materials == AMORPHOUS).any()
    assert bare.density is None
    np.testing.assert_array_equal(bare.materials[~coat], materials[~coat])  # the rest drawn as before


def test_specimen_overrides_reach_the_volumes_and_unknown_ones_are_refused(tmp_path):
    from catseg3d.simulation.settings import specimen_parameters
    from catseg3d.simulation.specimen import AMORPHOUS

    assert specimen_parameters({"dim_masses": [1, 3]}) == SpecimenParameters(dim_masses=(1, 3))
    assert specimen_parameters(None) == SpecimenParameters()
    with pytest.raises(ValueError, match="dim_mass"):
        specimen_parameters({"dim_mass": [1, 3]})
    (files,) = simulate_series(tmp_path, 1, (48, 48, 48), seed=5, spacing=SPACING, iterations=2, progress=False,
                               specimen=specimen_parameters({"dim_masses": [2, 2], "carbon_probability": 0.0}))
    parameters = json.loads(files.truth.read_text())["parameters"]
    assert parameters["specimen_distributions"]["dim_masses"] == [2, 2]
    assert len(parameters["specimen_drawn"]["dim_masses"]) == 2
    assert parameters["haadf_weights"]["amorphous"] == pytest.approx(parameters["haadf_weights"]["carbon"])
    # the masses are in the reconstruction (brighter than vacuum), not in the labels
    specimen = simulate_specimen((48, 48, 48), SPACING, np.random.default_rng([5, 0, 0]),
                                 specimen_parameters({"dim_masses": [2, 2], "carbon_probability": 0.0}))
    masses = specimen.materials == AMORPHOUS
    assert np.array_equal(read_nifti(files.labels).array, specimen.labels) and masses.any()
    reconstruction = read_nifti(files.reconstruction).array
    assert reconstruction[masses].mean() > 2 * reconstruction[specimen.materials == VACUUM].mean()


def test_cli_takes_specimen_and_imaging_overrides_and_refuses_bad_ones(tmp_path):
    out = tmp_path / "sims"
    common = ["simulate", out, "--shape", "48", "48", "48", "--spacing", str(SPACING), "--seed", "5", "--iterations", "2"]
    done = run_catseg3d(*common, "--specimen", '{"coat_thickness_nm": [1.0, 1.0], "carbon_probability": 0}',
                        "--imaging", '{"probe_tail_fraction": 0.1}')
    assert done.returncode == 0, done.stderr
    parameters = json.loads((out / "volume_000" / "truth.json").read_text())["parameters"]
    assert parameters["specimen_distributions"]["coat_thickness_nm"] == [1.0, 1.0]
    assert parameters["specimen_drawn"]["coat"]["thickness_nm"] == 1.0
    assert parameters["imaging"]["probe_tail_fraction"] == 0.1
    for option, value, message in (("--specimen", '{"coat": 1}', "unknown specimen parameter(s) ['coat']"),
                                   ("--imaging", "[0.1]", "argument --imaging: expected a JSON object"),
                                   ("--specimen", "{coat}", "argument --specimen: not JSON")):
        bad = run_in_this_process(["catseg3d", *common[:2], option, value],  # argparse's errors exit
                                  lambda: sys.exit(main([*map(str, common[:2]), option, value])))
        assert bad.returncode != 0 and message in bad.stderr.strip().splitlines()[-1], bad.stderr
    assert sorted(p.name for p in out.iterdir()) == ["volume_000"]  # nothing more written
