"""``catseg3d quantify`` on the simulator's ground-truth labels against its exact truth.json, and the
comparison of a label map with a reference (``--reference``)."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest
from conftest import run_catseg3d
from scipy import ndimage

from catseg3d.io import Volume, read_nifti, write_nifti
from catseg3d.quantify import surface_area, write_quantification
from catseg3d.quantify.report import COMPARED

# a 31 nm field of view: the plate's ledges are 3-7 voxels high (at 0.24 nm, 1-3 voxels, the
# smoothing before meshing loses 5-9 % of the external surface)
SHAPE, SPACING_NM, SEED = (256, 256, 256), 0.12, 0
CUBE = np.ones((3, 3, 3), bool)  # 26-connectivity


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The files of one simulated volume (noise-free, one reconstruction iteration: only its labels
    and truth are used)."""
    from catseg3d.simulation import simulate_series

    (files,) = simulate_series(tmp_path_factory.mktemp("simulated"), 1, SHAPE, seed=SEED, spacing=SPACING_NM,
                               dose=None, iterations=1, progress=False)
    return files


def quantify(*args) -> subprocess.CompletedProcess:
    """``catseg3d quantify ARGS``."""
    return run_catseg3d("quantify", *args)


def test_quantify_agrees_with_the_simulators_truth(simulated, tmp_path):
    result = quantify(simulated.labels, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    truth = json.loads(simulated.truth.read_text())["truth"]
    with open(tmp_path / "particles.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert stats["pt"]["count"] == truth["pt"]["count"] == len(truth["pt"]["particles"]) == len(rows) > 0
    centroids = np.array([[float(row[f"centroid_{axis}_nm"]) for axis in "zyx"] for row in rows])
    matched = []
    for particle in truth["pt"]["particles"]:
        distances = np.linalg.norm(centroids - particle["centre_nm"], axis=1)
        matched.append(int(distances.argmin()))
        assert distances.min() < particle["diameter_nm"] / 4
        measured = float(rows[matched[-1]]["diameter_nm"])
        for diameter in (particle["diameter_nm"], particle["equivalent_diameter_nm"]):
            assert abs(measured - diameter) <= max(0.05 * diameter, SPACING_NM)
    assert sorted(matched) == list(range(len(rows)))  # one measured particle per true one
    assert stats["pt"]["attached_fraction"] == 1.0 and all(row["attached"] == "True" for row in rows)
    found, expected = stats["alumina"], truth["alumina"]
    assert expected["pore_count"] >= 1 and found["pore_count"] == expected["pore_count"]
    for key in ("support_volume_nm3", "pore_volume_fraction"):
        assert found[key] == pytest.approx(expected[key], rel=0.02), key
    for key in ("external_surface_nm2", "pore_surface_nm2"):
        assert found[key] == pytest.approx(expected[key], rel=0.05), key


def measures(labels: np.ndarray, spacing: tuple[float, ...]) -> dict[str, float]:
    """The measures of report.md's reference table, computed here with scipy (areas: marching cubes
    of the whole field of view, :func:`catseg3d.quantify.surface_area`)."""
    voxel = float(np.prod(spacing))
    components, count = ndimage.label(labels == 2, structure=CUBE)
    volumes = np.bincount(components.ravel())[1:] * voxel
    touching = ndimage.binary_dilation(labels == 1, structure=CUBE)
    attached = np.bincount(components[touching], minlength=count + 1)[1:] > 0
    filled = ndimage.binary_fill_holes(labels == 1, structure=CUBE)
    pores = filled & (labels == 0)
    return {"Pt count": count, "Pt mean diameter (nm)": float(np.mean((6 * volumes / np.pi) ** (1 / 3))),
            "Pt attached fraction": float(attached.mean()),
            "alumina volume (nm^3)": np.count_nonzero(labels == 1) * voxel,
            "external surface (nm^2)": surface_area(filled, spacing),
            "pore volume fraction": np.count_nonzero(pores) / np.count_nonzero(filled),
            "pore surface (nm^2)": surface_area(pores, spacing),
            "label changes between z neighbours": float(np.mean(np.diff(labels, axis=0) != 0)),
            "z label changes / y, x label changes": float(np.mean(np.diff(labels, axis=0) != 0) / np.mean(
                [np.mean(np.diff(labels, axis=1) != 0), np.mean(np.diff(labels, axis=2) != 0)]))}


def test_reference_table_shows_the_gap(simulated, tmp_path):
    truth = read_nifti(simulated.labels)
    components, _ = ndimage.label(truth.array == 2, structure=CUBE)
    predicted = truth.array.copy()
    predicted[components == 1] = 0  # a Pt particle missed
    predicted[(truth.array == 1) & ~ndimage.binary_erosion(truth.array == 1)] = 0  # alumina one voxel thinner
    write_nifti(Volume(predicted, truth.spacing), tmp_path / "predicted.nii.gz")
    result = quantify(tmp_path / "predicted.nii.gz", "--reference", simulated.labels, "--out", tmp_path / "q")
    assert result.returncode == 0, result.stderr

    this, reference = measures(predicted, truth.spacing), measures(truth.array, truth.spacing)
    assert this["Pt count"] == reference["Pt count"] - 1
    report = (tmp_path / "q" / "report.md").read_text()
    assert "| measure | this | reference | difference (%) |" in report
    table = {}
    for line in report.split("## Against the reference")[1].splitlines():
        if line.startswith("| ") and not line.startswith("| measure"):
            name, *cells = (cell.strip() for cell in line.strip("|").split("|"))
            table[name] = cells
    assert [name for _, _, name, _ in COMPARED] == list(table) == list(this)
    stats = json.loads((tmp_path / "q" / "stats.json").read_text())
    for section, key, name, _ in COMPARED:
        printed, digits = table[name], len(table[name][0].partition(".")[2])
        difference = 100 * (this[name] - reference[name]) / reference[name]
        assert float(printed[0]) == pytest.approx(this[name], abs=0.51 * 10 ** -digits), name
        assert float(printed[1]) == pytest.approx(reference[name], abs=0.51 * 10 ** -digits), name
        assert float(printed[2]) == pytest.approx(difference, abs=0.0051), name
        assert stats["reference"][section][key] == pytest.approx(reference[name], rel=1e-6), name
        assert stats["reference"]["difference_percent"][f"{section}.{key}"] == pytest.approx(difference, abs=1e-4), name

    write_nifti(Volume(predicted[:-1], truth.spacing), tmp_path / "cut.nii.gz")
    result = quantify(tmp_path / "predicted.nii.gz", "--reference", tmp_path / "cut.nii.gz", "--out", tmp_path / "bad")
    assert result.returncode == 2 and not (tmp_path / "bad").exists()
    assert result.stderr.startswith(f"catseg3d: error: {tmp_path / 'cut.nii.gz'}: shape (255, 256, 256)")
    assert len(result.stderr.splitlines()) == 1


def test_reference_of_another_spacing_is_refused(tmp_path):
    labels = np.zeros((8, 8, 8), np.uint8)
    with pytest.raises(ValueError, match=r"differs from the labels' \(8, 8, 8\) at \[0.12, 0.12, 0.12\] nm"):
        write_quantification(Volume(labels, (0.12,) * 3), tmp_path / "q", reference=Volume(labels, (0.24,) * 3))
    assert not (tmp_path / "q").exists()
