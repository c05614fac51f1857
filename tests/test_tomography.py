"""Tilt tomography: projector geometry, SIRT/MLEM convergence, the missing wedge, real DM3 data."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_microscope_formats import HAADF_DM3

from catseg3d.cli.main import main
from catseg3d.io import read_nifti
from catseg3d.tomography import parallel_projection_matrix, reconstruct_tilt_series

PAPER_ANGLES = np.arange(-68, 69, 2.0)  # the tilt range: 69 projections


def project(volume, angles):
    """Tilt series ``(n_angles, y, x)`` of a ``(z, y, x)`` volume, tilt axis along y."""
    nz, ny, nx = volume.shape
    matrix = parallel_projection_matrix((nz, nx), angles)
    sinograms = matrix @ volume.transpose(0, 2, 1).reshape(nz * nx, ny)
    return sinograms.reshape(len(angles), nx, ny).transpose(0, 2, 1)


def test_a_point_lands_where_the_geometry_says_and_mass_is_kept():
    nz, nx = 31, 41
    image = np.zeros((nz, nx))
    z0, x0 = 9, 30  # pixel indices; centre (15, 20)
    image[z0, x0] = 2.0
    angles = np.array([-60.0, -13.0, 0.0, 25.0, 68.0])
    sinogram = (parallel_projection_matrix((nz, nx), angles) @ image.ravel()).reshape(len(angles), nx)
    bins = np.arange(nx)
    for theta, row in zip(np.deg2rad(angles), sinogram):
        t = (x0 - 20) * np.cos(theta) - (z0 - 15) * np.sin(theta) + 20
        assert row.sum() == pytest.approx(2.0)
        assert (row * bins).sum() / row.sum() == pytest.approx(t, abs=1e-5)  # linear split keeps the centre


def blob(shape, sigma):
    grids = np.meshgrid(*[np.arange(n) - (n - 1) / 2 for n in shape], indexing="ij")
    return np.exp(-sum(g ** 2 for g in grids) / (2 * sigma ** 2)).astype(np.float32)


@pytest.mark.parametrize("method", ["sirt", "mlem"])
def test_full_range_reconstructs_the_object(method):
    volume = blob((40, 6, 40), 5.0) + 0.5 * np.roll(blob((40, 6, 40), 3.0), (8, 0, -9), axis=(0, 1, 2))
    angles = np.arange(-90, 90, 2.0)
    rec = reconstruct_tilt_series(project(volume, angles), angles, method, iterations=100)
    assert rec.shape == volume.shape
    assert np.linalg.norm(rec - volume) / np.linalg.norm(volume) < 0.1
    if method == "mlem":
        assert rec.min() >= 0


def test_sirt_reduces_the_data_misfit():
    volume = blob((32, 4, 32), 4.0)
    data = project(volume, PAPER_ANGLES)
    misfits = [np.linalg.norm(project(reconstruct_tilt_series(data, PAPER_ANGLES, "sirt", n), PAPER_ANGLES) - data)
               for n in (2, 10, 40)]
    assert misfits[0] > misfits[1] > misfits[2]


def fwhm(profile):
    above = np.flatnonzero(profile >= profile.max() / 2)
    return above[-1] - above[0] + 1


def test_missing_wedge_elongates_a_sphere_along_the_beam_only():
    n = 48
    z, y, x = np.meshgrid(*[np.arange(n) - (n - 1) / 2] * 3, indexing="ij")
    sphere = ((x ** 2 + y ** 2 + z ** 2) < 4.0 ** 2).astype(np.float32)  # a 1 nm Pt particle at 0.12 nm
    rec = reconstruct_tilt_series(project(sphere, PAPER_ANGLES), PAPER_ANGLES, "sirt", 50)
    c = n // 2
    along_beam, along_axis, across = fwhm(rec[:, c, c]), fwhm(rec[c, :, c]), fwhm(rec[c, c, :])
    assert along_beam / across > 1.1
    assert along_axis == across


def test_tilt_axis_x_is_the_transposed_problem():
    volume = blob((24, 10, 16), 3.0)
    data = project(volume, PAPER_ANGLES)
    along_y = reconstruct_tilt_series(data, PAPER_ANGLES, "sirt", 5)
    along_x = reconstruct_tilt_series(data.transpose(0, 2, 1), PAPER_ANGLES, "sirt", 5, tilt_axis="x")
    np.testing.assert_allclose(along_x, along_y.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)


def test_real_dm3_tilt_series_reconstructs_a_round_rod(tmp_path):
    """The NIST rod (tilted about its own axis, along x) has a round cross-section in (z, y)."""
    out = tmp_path / "rod.nii.gz"
    assert main(["reconstruct", str(HAADF_DM3), str(out), "--tilt-axis", "x", "--iterations", "20"]) == 0
    volume = read_nifti(out)
    assert volume.array.shape == (64, 64, 64)
    np.testing.assert_allclose(volume.spacing, (17.994916,) * 3, rtol=1e-5)  # the file's 0.017994916 um
    section = volume.array[:, :, 20] > volume.array[:, :, 20].max() / 2
    zs, ys = np.nonzero(section)
    assert 0.8 < np.ptp(zs) / np.ptp(ys) < 1.25 and np.ptp(ys) > 10


def test_uncalibrated_stack_needs_a_pixel_size_and_anisotropic_pixels_keep_theirs(tmp_path, capsys):
    stack = tmp_path / "tilts.tif"
    tifffile.imwrite(stack, np.ones((3, 8, 6), np.float32), photometric="minisblack")  # no calibration
    angles = tmp_path / "tilts.tlt"
    angles.write_text("-40\n0\n40\n")
    out = tmp_path / "rec.nii.gz"
    assert main(["reconstruct", str(stack), str(out), "--angles", str(angles)]) == 2
    assert "pass --spacing" in capsys.readouterr().err and not out.exists()
    mrc = tmp_path / "tilts.mrc"
    import mrcfile
    with mrcfile.new(mrc) as file:  # pixels 3 A along y, 2 A along x
        file.set_data(np.ones((3, 8, 6), np.float32))
        file.voxel_size = (2.0, 3.0, 1.0)
    for axis, z_spacing in (("y", 0.2), ("x", 0.3)):  # z is sampled like the axis across the tilt axis
        assert main(["reconstruct", str(mrc), str(out), "--angles", str(angles), "--tilt-axis", axis,
                     "--iterations", "2"]) == 0
        np.testing.assert_allclose(read_nifti(out).spacing, (z_spacing, 0.3, 0.2), rtol=1e-6)
    capsys.readouterr()
    assert main(["reconstruct", str(mrc), str(out), "--angles", str(angles)]) == 2  # auto needs 4 angles
    assert "3 tilt angles are too few to find the tilt axis" in capsys.readouterr().err


def test_stack_needs_angles_and_the_right_number(tmp_path, capsys):
    stack = tmp_path / "tilts.tif"
    tifffile.imwrite(stack, np.ones((5, 8, 8), np.float32))
    out = tmp_path / "rec.nii.gz"
    assert main(["reconstruct", str(stack), str(out), "--spacing", "1"]) == 2
    assert "pass --angles" in capsys.readouterr().err
    angles = tmp_path / "tilts.tlt"
    angles.write_text("-60\n-30\n0\n30\n")
    assert main(["reconstruct", str(stack), str(out), "--angles", str(angles), "--spacing", "1"]) == 2
    assert "4 angles for 5 projections" in capsys.readouterr().err
    assert not out.exists()
    angles.write_text("-60\n-30\n0\n30\n60\n")
    assert main(["reconstruct", str(stack), str(out), "--angles", str(angles), "--spacing", "0.5"]) == 2
    assert "cannot tell the tilt axis" in capsys.readouterr().err and not out.exists()  # a flat stack
    assert main(["reconstruct", str(stack), str(out), "--angles", str(angles), "--spacing", "0.5",
                 "--tilt-axis", "y"]) == 0
    assert read_nifti(out).spacing == (0.5, 0.5, 0.5)


def test_tilt_axis_found_from_the_projections():
    """Two off-centre blobs tilted about y: the line centroids follow sinusoids for y, not for x;
    the same series transposed reads as tilted about x; a flat series or one particle cannot tell."""
    from catseg3d.tomography.tilt_axis import likely_tilt_axis, tilt_axis_misfit

    volume = np.roll(blob((40, 32, 40), 3.0), (-6, -6, 7), axis=(0, 1, 2)) \
        + 0.6 * np.roll(blob((40, 32, 40), 4.0), (4, 6, -8), axis=(0, 1, 2))
    data = project(volume, PAPER_ANGLES)
    misfit = tilt_axis_misfit(data, PAPER_ANGLES)
    assert misfit["y"] < 0.05 and misfit["x"] > 0.5  # pixels: exact for y up to the projector's sampling
    assert likely_tilt_axis(misfit) == "y" and likely_tilt_axis(tilt_axis_misfit(data.transpose(0, 2, 1), PAPER_ANGLES)) == "x"
    assert tilt_axis_misfit(data.transpose(0, 2, 1), PAPER_ANGLES) == pytest.approx({"y": misfit["x"], "x": misfit["y"]})
    assert likely_tilt_axis(tilt_axis_misfit(np.ones((5, 8, 8)), [-60, -30, 0, 30, 60])) is None
    # one round particle: its centroids across the axis never move, so they fit either axis
    single = tilt_axis_misfit(project(np.roll(blob((40, 32, 40), 3.0), (-6, -6, 7), axis=(0, 1, 2)), PAPER_ANGLES),
                              PAPER_ANGLES)
    assert max(single.values()) < 0.01 and likely_tilt_axis(single) is None
    with pytest.raises(ValueError, match="at least 4 angles"):
        tilt_axis_misfit(data[:3], PAPER_ANGLES[:3])


def test_real_rod_tilt_axis_found_and_a_contrary_request_warned(tmp_path, capsys):
    """The NIST rod is tilted about x: auto finds x and reconstructs what --tilt-axis x does;
    --tilt-axis y is obeyed, with a warning naming the file."""
    auto, explicit, contrary = (tmp_path / f"{name}.nii.gz" for name in ("auto", "x", "y"))
    assert main(["reconstruct", str(HAADF_DM3), str(auto), "--iterations", "3"]) == 0
    assert "tilt axis along x" in capsys.readouterr().out
    assert main(["reconstruct", str(HAADF_DM3), str(explicit), "--iterations", "3", "--tilt-axis", "x"]) == 0
    assert "warning" not in capsys.readouterr().err
    np.testing.assert_array_equal(read_nifti(auto).array, read_nifti(explicit).array)
    assert main(["reconstruct", str(HAADF_DM3), str(contrary), "--iterations", "3", "--tilt-axis", "y"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("catseg3d")]  # not the progress bar
    assert len(err) == 1 and err[0].startswith(f"catseg3d: warning: {HAADF_DM3}: the projections fit a tilt axis along x")
