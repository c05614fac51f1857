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
    import subprocess
    import sys

    from catseg3d.io import Volume, write_nifti

    write_nifti(Volume(phantom, SPACING), tmp_path / "labels.nii.gz")
    write_nifti(Volume(phantom.astype(np.float32) * 100, SPACING), tmp_path / "image.nii.gz")
    result = subprocess.run([sys.executable, "-m", "catseg3d", "quantify", str(tmp_path / "labels.nii.gz"),
                             "--image", str(tmp_path / "image.nii.gz"), "--out", str(tmp_path / "q")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "q" / "stats.json").read_text())
    assert stats["spacing_nm"] == list(SPACING) and stats["pt"]["count"] == 3
    assert stats["pt"]["attached_fraction"] == pytest.approx(2 / 3)
    assert stats["alumina"]["pore_count"] == 2
    rows = (tmp_path / "q" / "particles.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("label,voxels,size,diameter_nm")
    assert "Pt particles" in (tmp_path / "q" / "report.md").read_text()
    for figure in ("orthoslices.png", "pt_diameters.png"):
        assert (tmp_path / "q" / figure).stat().st_size > 10_000
    bad = np.full((4, 4), 7, np.uint8)
    write_nifti(Volume(bad, (1.0, 1.0)), tmp_path / "bad.nii.gz")
    result = subprocess.run([sys.executable, "-m", "catseg3d", "quantify", str(tmp_path / "bad.nii.gz"),
                             "--out", str(tmp_path / "b")], capture_output=True, text=True)
    assert result.returncode == 2 and "expected integer labels 0, 1, 2" in result.stderr
    assert not (tmp_path / "b").exists()


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
