"""The nearest-training-mask baseline: the right mask copied, scored as numpy scores it, and the
leak of the authors' split it exposes on the real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from catseg3d.io import Volume, write_nifti
from catseg3d.metrics.nearest_mask import nearest_training_masks, score_nearest_mask


def numpy_dsc(prediction: np.ndarray, truth: np.ndarray, label: int) -> float:
    p, t = prediction == label, truth == label
    return 2 * np.logical_and(p, t).sum() / (p.sum() + t.sum())


@pytest.fixture
def tiny_dataset(tmp_path):
    """Four training pairs and three validation pairs (``(y, x)``, 0.5 nm): each validation image is a
    noisy or rescaled copy of a known training image, its mask that image's mask with changes."""
    rng = np.random.default_rng(0)
    images = [rng.normal(100, 20, (40, 48)) for _ in range(4)]
    masks = [rng.integers(0, 3, (40, 48)).astype(np.uint8) for _ in range(4)]
    queries = [images[2] + rng.normal(0, 5, (40, 48)), 0.5 * images[0] + 30, images[3] + rng.normal(0, 5, (40, 48))]
    truths = [masks[2].copy(), masks[0].copy(), masks[3].copy()]
    truths[0][:10] = 0
    truths[2][:, :20] = 2
    datalist = {"training": [], "validation": []}
    for split, pairs in (("training", zip(images, masks)), ("validation", zip(queries, truths))):
        for i, (image, mask) in enumerate(pairs):
            names = {"image": f"{split}_{i}_image.nii.gz", "label": f"{split}_{i}_label.nii.gz"}
            write_nifti(Volume(image.astype(np.float32), (0.5, 0.5)), tmp_path / names["image"])
            write_nifti(Volume(mask, (0.5, 0.5)), tmp_path / names["label"])
            datalist[split].append(names)
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    return tmp_path, masks, truths


def test_the_most_similar_training_mask_is_copied_and_scored_as_numpy_scores_it(tiny_dataset):
    folder, masks, truths = tiny_dataset
    evaluation, predictions = score_nearest_mask(folder)
    assert [p.index for p in predictions] == [2, 0, 3]
    assert predictions[1].similarity == pytest.approx(1.0, abs=1e-6)  # a rescaled copy
    for prediction, mask in zip(predictions, (masks[2], masks[0], masks[3])):
        np.testing.assert_array_equal(prediction.labels, mask)
    rows = evaluation.per_image()
    assert [r["name"] for r in rows] == [f"validation_{i}_label.nii.gz" for i in range(3)]
    for row, prediction, truth in zip(rows, predictions, truths):
        for label, name in enumerate(("background", "alumina", "pt")):
            assert row[f"dsc_{name}"] == pytest.approx(numpy_dsc(prediction.labels, truth, label), abs=1e-12)
    assert rows[1]["dsc_pt"] == 1.0 and evaluation.scores[0].spacing == (0.5, 0.5)


def test_unequal_training_lists_are_refused():
    with pytest.raises(ValueError, match="label maps"):
        nearest_training_masks([np.zeros((4, 4))] * 2, [np.zeros((4, 4))], [np.zeros((4, 4))])


def test_on_the_authors_split_copying_masks_scores_near_table_1_and_on_grouped_folds_it_does_not(genc_prepared):
    report = score_nearest_mask(genc_prepared)[0].report()
    # 0.991 / 0.943 / 0.776 on the 15 validation patches, with no model (the paper's Table 1: 0.993 / 0.964 / 0.845)
    assert [round(report["metrics"]["dsc"][c]["mean"], 3) for c in ("background", "alumina", "pt")] == [
        0.991, 0.943, 0.776]
    grouped = score_nearest_mask(genc_prepared, "datalist_fold0.json")[0].report()
    assert grouped["n_images"] == 12 and grouped["metrics"]["dsc"]["pt"]["mean"] < 0.2
