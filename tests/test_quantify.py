"""Quantification on label volumes of known geometry, with anisotropic spacing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from catseg3d.quantify import measure_particles, measure_support

SPACING = (0.25, 0.12, 0.12)  # nm, (z, y, x)
SHAPE = (64, 160, 160)
SLAB = (slice(6, 50), slice(8, 152), slice(8, 152))  # 11 x 17.28 x 17.28 nm
PORES = [((28, 50, 50), 2.0), ((28, 110, 105), 2.0)]  # (centre in voxels, radius in nm)
PT_RADIUS = 0.9


def sphere(center, radius):
    grids = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    return sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, SPACING)) <= radius ** 2


@pytest.fixture(scope="module")
def phantom():
    labels = np.zeros(SHAPE, np.uint8)
    labels[SLAB] = 1
    for center, radius in PORES:
        labels[sphere(center, radius)] = 0
    top = 50 * SPACING[0]  # the slab's top face, nm
    pt_centers = [(top / SPACING[0] + (PT_RADIUS - 0.1) / SPACING[0], 40, 120),  # sitting on the slab
                  (top / SPACING[0] + (PT_RADIUS - 0.1) / SPACING[0], 120, 40),
                  (top / SPACING[0] + (PT_RADIUS + 1.6) / SPACING[0], 80, 80)]  # 1.6 nm above it
    for center in pt_centers:
        labels[sphere(center, PT_RADIUS) & (labels == 0)] = 2
    return labels


def test_particles_count_size_and_attachment(phantom):
    particles = measure_particles(phantom, SPACING)
    assert len(particles) == 3
    assert sorted(p.attached for p in particles) == [False, True, True]
    for particle in particles:
        assert particle.diameter_nm == pytest.approx(2 * PT_RADIUS, rel=0.05)
    floating = next(p for p in particles if not p.attached)
    # its lowest voxel centre is the first above 12.5 + 1.6 nm, 14.25 nm; the top support voxel's 12.25 nm
    assert floating.distance_nm == pytest.approx(2.0)
    top = 50 * SPACING[0]
    assert floating.centroid_nm == pytest.approx((top + PT_RADIUS + 1.6, 80 * 0.12, 80 * 0.12), abs=0.05)
    sitting = sorted((p for p in particles if p.attached), key=lambda p: p.centroid_nm[1])
    assert sitting[0].centroid_nm[1:] == pytest.approx((40 * 0.12, 120 * 0.12), abs=0.01)  # (y, x) not swapped
    assert all(p.distance_nm <= SPACING[0] + 1e-9 for p in particles if p.attached)


def test_min_size_filter(phantom):
    labels = phantom.copy()
    labels[2, 2, 2] = 2  # a one-voxel speck
    assert len(measure_particles(labels, SPACING)) == 4
    assert len(measure_particles(labels, SPACING, min_voxels=10)) == 3


def test_support_volume_pores_and_areas(phantom):
    stats = measure_support(phantom, SPACING)
    a, b, c = 44 * SPACING[0], 144 * SPACING[1], 144 * SPACING[2]
    pore_volume = 2 * 4 / 3 * math.pi * 2.0 ** 3
    assert stats["pore_count"] == 2
    assert stats["pore_volume_fraction"] == pytest.approx(pore_volume / (a * b * c), rel=0.02)
    assert stats["support_volume_nm3"] == pytest.approx(a * b * c - pore_volume, rel=0.02)
    assert stats["external_surface_nm2"] == pytest.approx(2 * (a * b + b * c + c * a), rel=0.05)
    assert stats["pore_surface_nm2"] == pytest.approx(2 * 4 * math.pi * 2.0 ** 2, rel=0.05)
    assert stats["pore_diameters_nm"] == pytest.approx([4.0, 4.0], rel=0.05)
    assert stats["specific_surface_nm_1"] == pytest.approx(stats["external_surface_nm2"] / stats["support_volume_nm3"])


def test_2d_particles_use_circle_diameters():
    labels = np.zeros((64, 64), np.uint8)
    grids = np.mgrid[:64, :64]
    labels[((grids - 32) ** 2).sum(0) <= 10 ** 2] = 2
    (particle,) = measure_particles(labels, (0.12, 0.12))
    assert particle.diameter_nm == pytest.approx(2 * 10 * 0.12, rel=0.05)
    assert not particle.attached and math.isnan(particle.distance_nm)


def test_quantify_command_writes_stats_particles_and_report(phantom, tmp_path):
    import json

    from conftest import run_catseg3d

    from catseg3d.io import Volume, write_nifti

    write_nifti(Volume(phantom, SPACING), tmp_path / "labels.nii.gz")
    write_nifti(Volume(phantom.astype(np.float32) * 100, SPACING), tmp_path / "image.nii.gz")
    result = run_catseg3d("quantify", tmp_path / "labels.nii.gz", "--image", tmp_path / "image.nii.gz",
                          "--out", tmp_path / "q", "--open-pore-radius", "2.5")
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "q" / "stats.json").read_text())
    assert stats["spacing_nm"] == list(SPACING) and stats["pt"]["count"] == 3
    assert stats["pt"]["attached_fraction"] == pytest.approx(2 / 3)
    assert stats["alumina"]["pore_count"] == 2
    assert stats["alumina"]["open_pore_radius_nm"] == 2.5 and stats["alumina"]["open_pore_count"] == 0
    rows = (tmp_path / "q" / "particles.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("label,voxels,size,diameter_nm")
    report = (tmp_path / "q" / "report.md").read_text()
    assert "Pt particles" in report and "- open pores: 0," in report and "ball of radius 2.5 nm" in report
    assert "3 Pt particles at a voxel size of 0.25 x 0.12 x 0.12 nm" in result.stdout
    # the labels corrected and saved by an ITK editor (unit code mm over the nm numbers), beside the image
    import SimpleITK as sitk

    edited = sitk.ReadImage(str(tmp_path / "labels.nii.gz"))
    for key in edited.GetMetaDataKeys():
        edited.EraseMetaData(key)
    sitk.WriteImage(edited, str(tmp_path / "edited.nii.gz"))
    result = run_catseg3d("quantify", tmp_path / "edited.nii.gz", "--image", tmp_path / "image.nii.gz",
                          "--out", tmp_path / "e")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "e" / "stats.json").read_text())["spacing_nm"] == list(SPACING)
    result = run_catseg3d("quantify", tmp_path / "labels.nii.gz", "--out", tmp_path / "n", "--open-pore-radius", "-1")
    assert result.returncode == 2 and "--open-pore-radius" in result.stderr and not (tmp_path / "n").exists()
    for figure in ("orthoslices.png", "pt_diameters.png", "render.png"):
        assert (tmp_path / "q" / figure).stat().st_size > 10_000
        assert (tmp_path / "q" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bad = np.full((4, 4), 7, np.uint8)
    write_nifti(Volume(bad, (1.0, 1.0)), tmp_path / "bad.nii.gz")
    result = run_catseg3d("quantify", tmp_path / "bad.nii.gz", "--out", tmp_path / "b")
    assert result.returncode == 2 and "expected integer labels 0, 1, 2" in result.stderr
    assert not (tmp_path / "b").exists()


def test_a_report_replaces_an_earlier_one_whole_and_nothing_else(phantom, tmp_path):
    """A rerun without meshes leaves no meshes of the earlier run; a file or a folder of other
    files is refused in one line before any work."""
    from conftest import run_catseg3d

    from catseg3d.io import Volume, write_nifti

    write_nifti(Volume(phantom, SPACING), tmp_path / "labels.nii.gz")
    out = tmp_path / "q"
    assert run_catseg3d("quantify", tmp_path / "labels.nii.gz", "--out", out, "--meshes", "ply").returncode == 0
    assert (out / "alumina.ply").is_file() and (out / "pt.ply").is_file()
    assert run_catseg3d("quantify", tmp_path / "labels.nii.gz", "--out", out).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["orthoslices.png", "particles.csv", "pt_diameters.png",
                                                     "render.png", "report.md", "stats.json"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    for target, problem in ((tmp_path / "labels.nii.gz", "exists and is not a folder"),
                            (tmp_path / "mine", "holds files that are not a quantify report (notes.txt); give a new "
                                                "or empty folder")):
        result = run_catseg3d("quantify", tmp_path / "labels.nii.gz", "--out", target)
        assert result.returncode == 2 and result.stderr == f"catseg3d: error: {target}: {problem}\n"
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.nii.gz", "mine", "q"]  # no partial folder


def test_meshes_are_in_nm_and_close_the_particles(phantom, tmp_path):
    import meshio

    from catseg3d.io import Volume
    from catseg3d.quantify import write_quantification

    write_quantification(Volume(phantom, SPACING), tmp_path, mesh_format="ply")
    alumina = meshio.read(tmp_path / "alumina.ply")
    x, y, z = alumina.points.T  # ParaView order
    # the slab spans voxels 6..49 (z), 8..151 (y, x): its surface lies half a voxel outside the centres
    assert z.min() == pytest.approx(5.5 * SPACING[0], abs=SPACING[0]) and z.max() == pytest.approx(49.5 * SPACING[0], abs=SPACING[0])
    assert x.min() == pytest.approx(7.5 * SPACING[2], abs=SPACING[2]) and y.max() == pytest.approx(151.5 * SPACING[1], abs=SPACING[1])
    pt = meshio.read(tmp_path / "pt.ply")
    triangles = pt.cells_dict["triangle"]
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    assert (uses == 2).all()  # closed (watertight) surfaces


def test_mesh_of_the_bounding_box_equals_the_mesh_of_the_field_of_view(phantom):
    from scipy import ndimage
    from skimage import measure

    from catseg3d.quantify import class_mesh
    from catseg3d.quantify.support import SIGMA

    for mask in (phantom == 2, phantom == 1):  # small particles inside; the slab
        smooth = ndimage.gaussian_filter(np.pad(mask, 2).astype(np.float32), sigma=SIGMA)
        smooth = np.maximum(smooth, np.float32(0.51) * np.pad(mask, 2))
        vertices, faces, _, _ = measure.marching_cubes(smooth, level=0.5, spacing=SPACING)
        expected = np.sort(((vertices - 2 * np.asarray(SPACING))[:, ::-1]).round(6), axis=0)
        found, found_faces = class_mesh(mask, SPACING)
        assert len(found_faces) == len(faces)
        assert np.allclose(np.sort(found.round(6), axis=0), expected, atol=1e-5)


def test_tiny_objects_cut_volumes_and_missing_classes(tmp_path):
    import json

    from catseg3d.io import Volume
    from catseg3d.quantify import surface_area, write_quantification

    block = np.zeros((16, 16, 16), np.uint8)
    block[2:14, 2:14, 2:14] = 1
    block[8, 8, 8] = 0  # a one-voxel pore
    block[1, 1, 1] = 2  # a one-voxel Pt speck
    stats = write_quantification(Volume(block, (0.5, 0.5, 0.5)), tmp_path / "tiny", mesh_format="ply")
    assert stats["alumina"]["pore_count"] == 1 and stats["alumina"]["pore_surface_nm2"] > 0
    assert (tmp_path / "tiny" / "pt.ply").exists()
    # alumina filling the whole field of view has no surface: the cut faces are not surface
    assert surface_area(np.ones((10, 10, 10), bool), (1.0, 1.0, 1.0)) == 0.0
    half = np.zeros((10, 10, 10), bool)
    half[:5] = True  # one internal face of 10 x 10 nm, four cut faces
    assert surface_area(half, (1.0, 1.0, 1.0)) == pytest.approx(100.0, rel=0.02)
    # no alumina and no Pt: valid JSON with nulls
    write_quantification(Volume(np.zeros((8, 8, 8), np.uint8), (1.0, 1.0, 1.0)), tmp_path / "empty")
    stats = json.loads((tmp_path / "empty" / "stats.json").read_text())
    assert stats["alumina"]["pore_volume_fraction"] is None and stats["pt"]["count"] == 0
    header = (tmp_path / "empty" / "particles.csv").read_text()  # a table without rows, not an empty file
    assert header == "label,voxels,size,diameter_nm,attached,distance_nm,centroid_z_nm,centroid_y_nm,centroid_x_nm\n"


def test_2d_label_map_report(tmp_path):
    import json

    from catseg3d.io import Volume
    from catseg3d.quantify import write_quantification

    labels = np.zeros((64, 64), np.uint8)
    labels[:32] = 1
    labels[31:36, 20:25] = 2  # touching the alumina
    write_quantification(Volume(labels, (0.12, 0.12)), tmp_path)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["pt"]["count"] == 1 and stats["pt"]["attached_fraction"] == 1.0
    assert stats["pt"]["diameter_kind"] == "equivalent circle" and "alumina" not in stats
    assert (tmp_path / "pt_diameters.png").exists() and not (tmp_path / "orthoslices.png").exists()
    assert not (tmp_path / "render.png").exists()


def channels_phantom():
    """The slab with an enclosed spherical pore of 2 nm radius and two channels of 1.2 nm radius
    drilled from the outside: 5 nm deep along z from the top face, 4.8 nm deep along x from a side."""
    labels = np.zeros(SHAPE, np.uint8)
    labels[SLAB] = 1
    labels[sphere((20, 40, 120), 2.0)] = 0
    z, y, x = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    down = (z >= 30) & (z < 50) & (((y - 80) * SPACING[1]) ** 2 + ((x - 80) * SPACING[2]) ** 2 <= 1.2 ** 2)
    across = (x >= 8) & (x < 48) & (((z - 18) * SPACING[0]) ** 2 + ((y - 120) * SPACING[1]) ** 2 <= 1.2 ** 2)
    labels[down | across] = 0
    return labels, down | across


def test_open_pores_are_channels_from_outside_and_enclosed_pores_stay_enclosed():
    labels, channels = channels_phantom()
    stats = measure_support(labels, SPACING)
    voxel = float(np.prod(SPACING))
    a, b, c = 44 * SPACING[0], 144 * SPACING[1], 144 * SPACING[2]
    r, depths, radius = 1.2, (5.0, 4.8), 3.0
    assert stats["pore_count"] == 1 and stats["pore_diameters_nm"] == pytest.approx([4.0], rel=0.05)
    assert stats["open_pore_count"] == 2 and stats["open_pore_radius_nm"] == radius
    assert "3 nm" in stats["open_pore_definition"]
    # the closing fills each channel but for the cap that the ball dips into its mouth
    dip = radius - math.sqrt(radius ** 2 - r ** 2)  # 0.25 nm
    cap = math.pi * dip ** 2 * (3 * radius - dip) / 3
    assert stats["envelope_volume_nm3"] == pytest.approx(a * b * c - 2 * cap, rel=1e-3)
    assert stats["envelope_volume_nm3"] - stats["open_pore_volume_nm3"] == pytest.approx(
        (np.count_nonzero(labels[SLAB] == 1) + np.count_nonzero(labels[SLAB] == 0) - channels.sum()) * voxel)
    channel_volumes = [math.pi * r ** 2 * depth - cap for depth in depths]
    assert stats["open_pore_volume_nm3"] == pytest.approx(sum(channel_volumes), rel=0.03)
    assert stats["open_pore_volume_fraction"] == pytest.approx(sum(channel_volumes) / (a * b * c), rel=0.03)
    assert sorted(stats["open_pore_diameters_nm"]) == pytest.approx(
        sorted((6 * volume / math.pi) ** (1 / 3) for volume in channel_volumes), rel=0.02)
    # whole sides and bottoms: the cap meets the sides only along the rim of the mouth
    channel_walls = sum(2 * math.pi * r * depth + math.pi * r ** 2 for depth in depths)
    assert stats["open_pore_wall_nm2"] == pytest.approx(channel_walls, rel=0.05)
    outer = 2 * (a * b + b * c + c * a) - 2 * math.pi * r ** 2  # less the two mouths
    assert stats["external_surface_nm2"] == pytest.approx(outer + channel_walls, rel=0.05)
    off = measure_support(labels, SPACING, open_pore_radius_nm=0)
    assert off["open_pore_count"] is None and off["open_pore_volume_nm3"] is None
    assert off["external_surface_nm2"] == stats["external_surface_nm2"]
    with pytest.raises(ValueError, match="open-pore radius"):
        measure_support(labels, SPACING, open_pore_radius_nm=-1)


def test_no_cavities_no_open_pores(phantom):
    a, b, c = 44 * SPACING[0], 144 * SPACING[1], 144 * SPACING[2]
    block = np.zeros(SHAPE, np.uint8)
    block[SLAB] = 1
    for labels in (block, phantom):  # a plain slab; the slab with enclosed pores and Pt on top
        stats = measure_support(labels, SPACING)
        assert stats["open_pore_count"] == 0 and stats["open_pore_volume_nm3"] == 0.0
        assert stats["open_pore_wall_nm2"] == 0.0 and stats["open_pore_diameters_nm"] == []
        assert stats["envelope_volume_nm3"] == pytest.approx(a * b * c, rel=1e-9)


def ellipsoid(spacing, radius):
    """The lattice offsets within ``radius`` nm: a boolean footprint."""
    half = [math.ceil(radius / s) for s in spacing]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing)], indexing="ij")
    return sum(g ** 2 for g in grids) <= radius ** 2 * (1 + 1e-9)


def test_morphology_matches_scipy():
    from scipy import ndimage

    from catseg3d.quantify.morphology import closing, connected_components, fill_holes

    rng = np.random.default_rng(0)
    spacing = (0.25, 0.12, 0.16)
    noise = ndimage.gaussian_filter(rng.random((30, 44, 40)), 1.2)
    blobs = noise > np.quantile(noise, 0.6)  # blobs with concave, partly enclosed background
    radius = 0.48  # exactly 4 voxels along y and 3 along x: offsets on the sphere belong to the ball
    margin = [2 * math.ceil(radius / s) + 2 for s in spacing]
    reference = ndimage.binary_closing(np.pad(blobs, [(m, m) for m in margin]), ellipsoid(spacing, radius))
    closed = closing(blobs, spacing, radius)
    assert np.array_equal(closed, reference[tuple(slice(m, -m) for m in margin)])
    assert closed.sum() > blobs.sum()
    holes = noise > np.quantile(noise, 0.3)  # mostly foreground: many enclosed holes
    cube = np.ones((3, 3, 3), bool)
    assert np.array_equal(fill_holes(holes), ndimage.binary_fill_holes(holes, structure=cube))
    assert fill_holes(holes).sum() > holes.sum()
    components, count = connected_components(~holes)
    expected, expected_count = ndimage.label(~holes, structure=cube)
    assert count == expected_count > 5 and np.array_equal(components, expected)


def whole_volume_area(mask, spacing):
    """The surface area as computed before cropping and slabs: the whole field of view at once."""
    from scipy import ndimage
    from skimage import measure

    from catseg3d.quantify.support import SIGMA

    padded = np.pad(mask, 2, mode="edge")
    smooth = ndimage.gaussian_filter(padded.astype(np.float32), sigma=SIGMA)  # scipy's own reach
    smooth = np.maximum(smooth, np.float32(0.51) * padded)
    if smooth.min() >= 0.5 or smooth.max() <= 0.5:
        return 0.0
    vertices, faces, _, _ = measure.marching_cubes(smooth, level=0.5, spacing=spacing)
    centroids = vertices[faces].mean(axis=1)
    low, high = 1.5 * np.asarray(spacing), (1.5 + np.asarray(mask.shape)) * np.asarray(spacing)
    return float(measure.mesh_surface_area(vertices, faces[np.all((centroids >= low) & (centroids <= high), axis=1)]))


def test_surface_area_in_slabs_and_boxes_equals_the_whole_volume(monkeypatch, phantom):
    from catseg3d.quantify import support

    monkeypatch.setattr(support, "SLAB", 7)  # many slabs
    labels, _ = channels_phantom()
    cut = phantom[:, :100, 20:]  # the slab cut by the field of view on two sides
    box = (slice(3, 60), slice(5, 150), slice(0, None))  # a box of the field of view, start (3, 5, 0)
    for mask in (labels == 1, labels == 0, cut == 1, cut == 2, phantom == 0):
        assert support.surface_area(mask, SPACING) == pytest.approx(whole_volume_area(mask, SPACING), rel=1e-6)
        inner = np.zeros_like(mask)
        inner[box] = mask[box]
        assert support.surface_area(inner[box], SPACING, (3, 5, 0), mask.shape) == pytest.approx(
            whole_volume_area(inner, SPACING), rel=1e-6)


def test_particle_distances_match_a_whole_volume_distance_map(monkeypatch):
    from scipy import ndimage

    from catseg3d.quantify import particles as module

    labels = np.zeros(SHAPE, np.uint8)
    labels[SLAB] = 1
    labels[sphere((28, 50, 50), 2.0)] = 0
    centres = [(52, 40, 120), (56, 120, 40), (60, 80, 80), (62, 20, 20), (40, 159, 150), (1, 1, 1)]
    for center in centres:  # touching; 1.25, 2.25 and 2.75 nm above the slab; beside it; in a corner
        labels[sphere(center, 0.7) & (labels == 0)] = 2
    support = labels == 1
    components, count = ndimage.label(labels == 2, structure=np.ones((3, 3, 3), bool))
    ids = np.arange(1, count + 1)
    distance = ndimage.distance_transform_edt(~support, sampling=SPACING)
    expected_distance = ndimage.minimum(distance, components, ids)
    touching = ndimage.binary_dilation(support, structure=np.ones((3, 3, 3), bool))
    expected_attached = np.bincount(components[touching & (components > 0)], minlength=count + 1)[1:] > 0
    expected_centroids = np.array(ndimage.center_of_mass(labels == 2, components, ids)) * SPACING
    for crop_nm in (2.0, 0.3):  # 0.3 nm: the grown boxes and the whole-volume KD-tree measure most
        monkeypatch.setattr(module, "DISTANCE_CROP_NM", crop_nm)
        found = measure_particles(labels, SPACING)
        assert [p.label for p in found] == ids.tolist() and count == len(centres)
        assert [p.distance_nm for p in found] == pytest.approx(expected_distance.tolist(), rel=1e-12)
        assert [p.attached for p in found] == expected_attached.tolist()
        assert np.allclose([p.centroid_nm for p in found], expected_centroids, rtol=1e-12)
    assert max(p.distance_nm for p in found) > 4 * 3 * 0.12  # beyond the largest grown box
    assert sum(expected_attached) >= 1 and sum(~expected_attached) >= 3


def test_render_draws_alumina_grey_and_pt_red(tmp_path):
    from catseg3d.io.png import pyplot
    from catseg3d.quantify.figures import plot_render

    labels = np.zeros(SHAPE, np.uint8)
    labels[SLAB] = 1
    labels[sphere((50 + 2.8 / SPACING[0], 80, 80), 3.0) & (labels == 0)] = 2  # a 6 nm particle on top
    assert plot_render(labels, SPACING, tmp_path / "render.png", blocks=40) == 4
    assert (tmp_path / "render.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    render = pyplot().imread(tmp_path / "render.png")[..., :3]  # RGB in [0, 1]
    red = (render[..., 0] > 0.4) & (render[..., 1] < 0.2) & (render[..., 2] < 0.2)
    grey = (np.ptp(render, axis=-1) < 0.02) & (render[..., 0] > 0.2) & (render[..., 0] < 0.8)
    assert red.sum() > 2000 and grey.sum() > 20000
