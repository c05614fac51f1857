"""`catseg3d evaluate` on hand-built label maps with known answers, and on the authors' CSVs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import run_catseg3d

from catseg3d.io import Volume, write_nifti
from catseg3d.metrics import Evaluation


def disk(shape, center, radius, spacing=None):
    """A disk or ball of ``radius`` (physical units, voxels if no spacing) around ``center``."""
    spacing = np.ones(len(shape)) if spacing is None else spacing
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(((g - c) * d) ** 2 for g, c, d in zip(grids, center, spacing)) <= radius ** 2


def labels_2d(shift, with_pt=True):
    """Alumina disk shifted by ``shift`` px and a Pt disk that stays put."""
    truth = np.zeros((64, 96), np.uint8)
    truth[disk(truth.shape, (32, 40), 14)] = 1
    pred = np.roll(truth, shift, axis=1)
    if with_pt:
        truth[disk(truth.shape, (10, 80), 3)] = 2
        pred[disk(truth.shape, (10, 80), 3)] = 2
    return pred, truth


def run_evaluate(*args):
    return run_catseg3d("evaluate", *args)


def write_pairs(tmp_path, pairs, spacing):
    for folder in ("pred", "truth"):
        (tmp_path / folder).mkdir()
    for name, (pred, truth) in pairs.items():
        write_nifti(Volume(pred, spacing), tmp_path / "pred" / name)
        write_nifti(Volume(truth, spacing), tmp_path / "truth" / name)


def test_label_maps_report_in_nm_with_undefined_images_counted(tmp_path):
    pairs = {f"img{k}.nii.gz": labels_2d(k) for k in (1, 2, 3)}
    pred, truth = labels_2d(0)
    pred[pred == 2] = 0  # the model missed all Pt in this image
    pairs["img_missed.nii.gz"] = (pred, truth)
    write_pairs(tmp_path, pairs, (0.12, 0.12))
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["n_images"] == 4 and report["spacing_nm"] == [0.12, 0.12]
    alumina = report["rhd_nm"]["alumina"]["100"]
    assert alumina["n"] == 4 and alumina["mean"] == pytest.approx(0.12 * (1 + 2 + 3 + 0) / 4)
    pt = report["rhd_nm"]["pt"]["90"]
    assert pt["n"] == 3 and pt["n_undefined"] == 1 and pt["mean"] == 0.0
    assert pt["mean_penalized"] == pytest.approx(0.12 * np.hypot(63, 95) / 4)
    assert report["metrics"]["recall"]["pt"]["n"] == 4 and report["metrics"]["recall"]["pt"]["mean"] == 0.75
    for name in ("report.md", "per_image.csv", "rhd_curve.png", "confusion.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    rows = list(csv.DictReader((tmp_path / "out" / "per_image.csv").open()))
    missed = next(r for r in rows if r["name"] == "img_missed.nii.gz")
    assert missed["rhd_status_pt"] == "undefined" and missed["recall_pt"] == "0.0"
    assert "0.845 ± 0.034" in (tmp_path / "out" / "report.md").read_text()  # the paper beside ours


def test_3d_volumes_per_volume_and_per_slice_with_anisotropic_spacing(tmp_path):
    spacing = (0.5, 0.12, 0.12)
    truth = np.zeros((16, 48, 48), np.uint8)
    truth[disk(truth.shape, (8, 24, 24), 2.5, spacing)] = 1  # a round ball of radius 2.5 nm
    pred = np.roll(truth, 2, axis=0)  # shifted by 2 slices of 0.5 nm
    write_pairs(tmp_path, {"vol.nii.gz": (pred, truth)}, spacing)
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "vol")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "vol" / "report.json").read_text())
    assert report["spacing_nm"] == [0.5, 0.12, 0.12]
    assert report["rhd_nm"]["alumina"]["100"]["mean"] == pytest.approx(1.0)  # 2 slices x 0.5 nm
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "slices",
                          "--per-slice")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "slices" / "report.json").read_text())
    assert report["n_images"] == 16 and report["spacing_nm"] == [0.12, 0.12]
    slice_dsc = [2 * (p & t).sum() / (p.sum() + t.sum()) for p, t in zip(pred == 1, truth == 1) if p.any() or t.any()]
    assert report["metrics"]["dsc"]["alumina"]["n"] == len(slice_dsc)
    assert report["metrics"]["dsc"]["alumina"]["mean"] == pytest.approx(np.mean(slice_dsc))
    one_side_empty = sum(p.any() != t.any() for p, t in zip(pred == 1, truth == 1))
    assert one_side_empty == 4 and report["rhd_nm"]["alumina"]["100"]["n_undefined"] == one_side_empty


def test_authors_confusion_matrices_give_table_1(genc_src, tmp_path):
    result = run_evaluate("--confusion-matrices", genc_src / "confusion_matrices", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    dsc = report["metrics"]["dsc"]
    assert [round(dsc[c]["mean"], 3) for c in ("background", "alumina", "pt")] == [0.993, 0.964, 0.845]
    assert [round(dsc[c]["ci95"], 3) for c in ("background", "alumina", "pt")] == [0.003, 0.003, 0.034]
    assert report["spacing_nm"] is None and "rhd_nm" not in report


def test_evaluation_requires_matching_spacing_and_names(tmp_path):
    pred, truth = labels_2d(1)
    write_pairs(tmp_path, {"a.nii.gz": (pred, truth)}, (0.12, 0.12))
    write_nifti(Volume(pred, (0.2, 0.2)), tmp_path / "pred" / "a.nii.gz")
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "out")
    assert result.returncode == 2 and "differs from the truth's (0.12, 0.12) nm" in result.stderr
    write_nifti(Volume(pred, (0.12, 0.12)), tmp_path / "pred" / "b.nii.gz")
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "out")
    assert result.returncode == 2 and "b.nii.gz: no file of the same name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_truth_corrected_in_an_itk_editor_is_scored_in_nm(tmp_path):
    """ITK-SNAP saves a corrected label file with the unit code mm over the numbers it read:
    the truth and catseg3d's prediction then hold 0.12 mm and 0.12 nm, one image in nm."""
    import SimpleITK as sitk

    pred, truth = labels_2d(2)
    write_pairs(tmp_path, {"a.nii.gz": (pred, truth)}, (0.12, 0.12))
    corrected = sitk.ReadImage(str(tmp_path / "truth" / "a.nii.gz"))
    for key in corrected.GetMetaDataKeys():  # an editor's new file: no catseg3d description
        corrected.EraseMetaData(key)
    sitk.WriteImage(corrected, str(tmp_path / "truth" / "a.nii.gz"))
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["spacing_nm"] == [0.12, 0.12]
    assert report["rhd_nm"]["alumina"]["100"]["mean"] == pytest.approx(0.24)  # 2 pixels of 0.12 nm
    # both label files saved by the editor: the images, in nm, give the voxel size
    sitk.WriteImage(corrected, str(tmp_path / "pred" / "a.nii.gz"))
    (tmp_path / "images").mkdir()
    write_nifti(Volume(truth.astype(np.float32), (0.12, 0.12)), tmp_path / "images" / "a.nii.gz")
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--images", tmp_path / "images",
                          "--out", tmp_path / "with_images")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "with_images" / "report.json").read_text())["spacing_nm"] == [0.12, 0.12]


def test_uncalibrated_tiff_truth_takes_spacing_and_shapes_must_match(tmp_path):
    import tifffile

    pred, truth = labels_2d(2)
    for folder in ("pred", "truth"):
        (tmp_path / folder).mkdir()
    tifffile.imwrite(tmp_path / "pred" / "a.tif", pred)
    tifffile.imwrite(tmp_path / "truth" / "a.tif", truth)
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "out",
                          "--spacing", "0.25")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["spacing_nm"] == [0.25, 0.25] and report["rhd_nm"]["alumina"]["100"]["mean"] == pytest.approx(0.5)
    tifffile.imwrite(tmp_path / "pred" / "a.tif", pred[:, :64])
    result = run_evaluate("--pred", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", tmp_path / "out2",
                          "--spacing", "0.25")
    assert result.returncode == 2 and "shape (64, 64) differs from the truth's (64, 96)" in result.stderr


def test_fractional_labels_are_an_error():
    with pytest.raises(ValueError, match="whole class indices"):
        Evaluation().add("x", np.full((4, 4), 0.4), np.zeros((4, 4), int), (1.0, 1.0))


def test_labels_outside_the_classes_are_an_error():
    with pytest.raises(ValueError, match=r"prediction labels must lie in \[0, 3\)"):
        Evaluation().add("x", np.full((4, 4), 3), np.zeros((4, 4), int), (1.0, 1.0))


def test_single_files_take_an_image_of_another_name_and_refuse_a_file_as_out(tmp_path):
    pred, truth = labels_2d(2)
    write_nifti(Volume(pred, (0.12, 0.12)), tmp_path / "pred.nii.gz")
    write_nifti(Volume(truth, (0.12, 0.12)), tmp_path / "truth.nii.gz")
    write_nifti(Volume(truth.astype(np.float32) * 100, (0.12, 0.12)), tmp_path / "image.nii.gz")
    files = ("--pred", tmp_path / "pred.nii.gz", "--truth", tmp_path / "truth.nii.gz",
             "--images", tmp_path / "image.nii.gz")
    result = run_evaluate(*files, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "worst_images.png").stat().st_size > 0
    assert "worst_images.png" in (tmp_path / "out" / "report.md").read_text()
    (tmp_path / "taken").write_text("not a folder")
    result = run_evaluate(*files, "--out", tmp_path / "taken")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "taken" in result.stderr and (tmp_path / "taken").read_text() == "not a folder"
