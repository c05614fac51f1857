"""Sparse labels: pixels marked 255 are left out of the training metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import DiceMetric
from monai.transforms import AsDiscreted

from catseg3d.io.labels import UNLABELLED, keep_boxes, labelled_mask
from catseg3d.transforms import OneHotLabelledd


def case(seed=0, shape=(1, 20, 16)):
    rng = np.random.default_rng(seed)
    pred = torch.as_tensor(rng.integers(0, 3, shape))
    label = torch.as_tensor(rng.integers(0, 3, shape))
    return pred, label


def test_dense_labels_give_monai_one_hot():
    pred, label = case()
    ours = OneHotLabelledd(["pred", "label"], num_classes=3)({"pred": pred, "label": label})
    monai = AsDiscreted(["pred", "label"], to_onehot=3)({"pred": pred, "label": label})
    for key in ("pred", "label"):
        assert torch.equal(ours[key], monai[key])


def test_mean_dice_counts_only_labelled_pixels():
    pred, label = case(1)
    label[:, :, :7] = UNLABELLED
    out = OneHotLabelledd(["pred", "label"], num_classes=3)({"pred": pred, "label": label})
    assert (out["pred"][:, labelled_mask(label.numpy())[0] == 0] == 0).all()
    metric = DiceMetric(include_background=False, reduction="none")
    dice = metric(out["pred"][None], out["label"][None])[0].numpy()
    keep = label.numpy() != UNLABELLED
    p, t = pred.numpy()[keep], label.numpy()[keep]
    expected = [2 * ((p == c) & (t == c)).sum() / ((p == c).sum() + (t == c).sum()) for c in (1, 2)]
    np.testing.assert_allclose(dice, expected, rtol=1e-6)


def test_class_indices_out_of_range_are_refused():
    pred, label = case(2)
    pred[0, 0, 0] = 3
    with pytest.raises(ValueError, match="expected class indices 0..2"):
        OneHotLabelledd(["pred", "label"], num_classes=3)({"pred": pred, "label": label})


def test_the_pixel_forest_baseline_learns_a_phantom_from_strokes():
    """A bright disc on a dim background, labelled by two strokes: the forest finds the disc."""
    from catseg3d.baselines import PixelForest

    rng = np.random.default_rng(0)
    y, x = np.mgrid[:64, :64]
    truth = ((y - 32) ** 2 + (x - 32) ** 2 < 15 ** 2).astype(np.uint8)
    image = np.clip(60 + 120 * truth + 15 * rng.standard_normal(truth.shape), 0, 255).astype(np.uint8)
    strokes = np.full_like(truth, UNLABELLED)
    strokes[32, 25:40] = 1
    strokes[5, 5:60] = 0
    forest = PixelForest(trees=20, samples_per_class=500).fit([image], [strokes])
    pred = forest.predict(image)
    assert pred.shape == truth.shape and ((pred == 1) & (truth == 1)).sum() * 2 / ((pred == 1).sum() + truth.sum()) > 0.9
    with pytest.raises(ValueError, match="no labelled pixel"):
        PixelForest().fit([image], [np.full_like(truth, UNLABELLED)])


def test_keep_boxes_labels_a_tenth_in_boxes_of_every_class():
    labels = np.zeros((200, 160), np.uint8)
    labels[:, 80:] = 1
    labels[100:104, 20:24] = 2  # 16 Pt pixels
    sparse = keep_boxes(labels, fraction=0.10, box=20, seed=3)
    kept = sparse != UNLABELLED
    assert 0.10 <= kept.mean() < 0.10 + 400 / labels.size  # stops at the first box past a tenth
    np.testing.assert_array_equal(sparse[kept], labels[kept])
    assert set(np.unique(sparse[kept])) == {0, 1, 2}  # each class boxed in turn, rare Pt included
    assert kept[100:104, 20:24].all()  # the only Pt pixels sit inside a box
    np.testing.assert_array_equal(keep_boxes(labels, 0.10, 20, seed=3), sparse)  # seeded
    with pytest.raises(ValueError, match="no labelled pixel"):
        keep_boxes(np.full((8, 8), UNLABELLED, np.uint8))


def test_label_slices_keeps_the_labels_geometry(tmp_path, capsys):
    """The labels-to-correct overlay their image in a viewer: same affine (position, orientation)."""
    import nibabel as nib

    from catseg3d.cli.main import main

    labels = np.random.default_rng(0).integers(0, 3, (6, 8, 10), dtype=np.uint8)  # (z, y, x)
    affine = np.array([[-0.5, 0, 0, 12.0], [0, 0.5, 0, -3.0], [0, 0, 0.5, 7.5], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(labels.T, affine), tmp_path / "segmented.nii.gz")
    assert main(["label-slices", str(tmp_path / "segmented.nii.gz"), str(tmp_path / "labels.nii.gz"), "--z", "2"]) == 0
    written = nib.load(tmp_path / "labels.nii.gz")
    np.testing.assert_allclose(written.affine, affine)
    kept = np.asarray(written.dataobj).T
    np.testing.assert_array_equal(kept[2], labels[2])
    assert (np.delete(kept, 2, axis=0) == 255).all()
    # a 2D label image has no slices to choose; float values are no labels
    nib.save(nib.Nifti1Image(labels[0].T, affine), tmp_path / "flat.nii.gz")
    nib.save(nib.Nifti1Image(labels.T.astype(np.float32), affine), tmp_path / "float.nii.gz")
    for name, problem in (("flat", "slices are chosen from a 3D label volume, got a 2D image of shape (8, 10)"),
                          ("float", "expected integer labels, got float32 values")):
        assert main(["label-slices", str(tmp_path / f"{name}.nii.gz"), str(tmp_path / "out.nii.gz"), "--z", "0"]) == 2
        assert capsys.readouterr().err.startswith(f"catseg3d: error: {tmp_path / name}.nii.gz: {problem}")
    assert not (tmp_path / "out.nii.gz").exists()
