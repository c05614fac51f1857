"""Confusion-matrix statistics reproduce the paper's Table 1 from the authors' 15 matrices."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from catseg3d.metrics import class_scores, confusion_matrix, summarize_confusion_matrices

CLASSES = ("background", "alumina", "pt")
# Table 1 of Genc et al. (2022), as recovered in ../shared/data/genc2022/README.md: (mean, ci95)
TABLE_1 = {
    "dsc": {"background": (0.993, 0.003), "alumina": (0.964, 0.003), "pt": (0.845, 0.034)},
    "precision": {"background": (0.994, 0.002), "alumina": (0.956, 0.008), "pt": (0.920, 0.033)},
    "recall": {"background": (0.991, 0.004), "alumina": (0.972, 0.004), "pt": (0.785, 0.047)},
}


def read_authors_matrix(path):
    """The authors' CSV: header ``,0,1,2``, then one row per truth class led by the class."""
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    return rows[:, 1:].astype(np.int64)


def test_authors_matrices_give_table_1(genc_src):
    files = sorted((genc_src / "confusion_matrices").glob("cm_*.csv"))
    assert len(files) == 15
    summary = summarize_confusion_matrices(np.stack([read_authors_matrix(f) for f in files]), CLASSES)
    for metric, classes in TABLE_1.items():
        for name, (mean, ci95) in classes.items():
            got = summary["mean"][metric][name]
            assert round(got["mean"], 3) == mean and round(got["ci95"], 3) == ci95, (metric, name, got)
    assert summary["mean"]["dsc"]["pt"]["n"] == 14  # val image 0 has Pt in neither truth nor prediction
    assert summary["mean"]["dsc"]["background"]["n"] == 15


def test_authors_matrix_rows_are_the_mask_class_counts(genc_src):
    masks = sorted((genc_src / "val" / "val_masks").iterdir())
    for index, mask_file in enumerate(masks):
        cm = read_authors_matrix(genc_src / "confusion_matrices" / f"cm_{index + 1:02d}.csv")
        counts = np.bincount(tifffile.imread(mask_file).ravel(), minlength=3)
        np.testing.assert_array_equal(cm.sum(axis=1), counts)
        np.testing.assert_array_equal(confusion_matrix(tifffile.imread(mask_file), tifffile.imread(mask_file), 3),
                                      np.diag(counts))


def test_hand_worked_example():
    y = np.array([[0, 0, 1], [1, 2, 2]])
    y_pred = np.array([[0, 1, 1], [1, 2, 0]])
    cm = confusion_matrix(y_pred, y, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    scores = class_scores(cm)
    np.testing.assert_allclose(scores["dsc"], [2 / 4, 4 / 5, 2 / 3])
    np.testing.assert_allclose(scores["precision"], [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(scores["recall"], [1 / 2, 1, 1 / 2])


def test_absent_class_is_nan_and_left_out():
    cm = np.array([[5, 0, 0], [0, 3, 0], [0, 0, 0]])
    assert np.isnan(class_scores(cm)["dsc"][2])
    summary = summarize_confusion_matrices(np.stack([cm, np.eye(3, dtype=int) * 4]), CLASSES)
    assert summary["mean"]["dsc"]["pt"] == {"mean": 1.0, "ci95": pytest.approx(float("nan"), nan_ok=True), "n": 1}


def test_bad_labels_are_errors():
    with pytest.raises(ValueError, match="different shape"):
        confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 3), int), 3)
    with pytest.raises(ValueError, match=r"ground truth labels must lie in \[0, 3\)"):
        confusion_matrix(np.zeros(3, int), np.array([0, 1, 3]), 3)
