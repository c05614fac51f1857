"""The bundle's report handler turns MONAI (x, y[, z]) arrays and affines into (z, y, x) and nm."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from catseg3d.handlers import EvaluationReportHandler
from catseg3d.metrics import percentile_hausdorff


def test_spacing_and_axes_are_reversed_into_numpy_order(tmp_path):
    spacing_zyx = (0.5, 0.25, 0.12)
    grids = np.meshgrid(*[np.arange(n) for n in (12, 24, 40)], indexing="ij")
    truth = (sum(((g - c) * s) ** 2 for g, c, s in zip(grids, (6, 12, 20), spacing_zyx)) <= 2.0 ** 2).astype(np.int64)
    pred = np.roll(truth, 2, axis=0)  # 2 slices of 0.5 nm
    affine = torch.diag(torch.tensor([*spacing_zyx[::-1], 1.0], dtype=torch.float64))  # MONAI: (x, y, z)

    def monai_one_hot(labels):  # (z, y, x) -> (C, x, y, z) as MONAI holds a NIfTI volume
        return torch.nn.functional.one_hot(torch.from_numpy(labels.T.copy()), 3).permute(3, 0, 1, 2).float()

    item = {"pred": MetaTensor(monai_one_hot(pred), affine=affine),
            "label": MetaTensor(monai_one_hot(truth), affine=affine, meta={"filename_or_obj": "/d/vol.nii.gz"}),
            "image": MetaTensor(torch.rand(1, 40, 24, 12), affine=affine)}
    handler = EvaluationReportHandler(tmp_path, keep_images=False)
    handler.collect(SimpleNamespace(state=SimpleNamespace(output=[item])))
    score = handler.evaluation.scores[0]
    assert score.name == "vol.nii.gz" and score.spacing == spacing_zyx
    expected = percentile_hausdorff(pred == 1, truth == 1, handler.percentiles, spacing_zyx)
    np.testing.assert_allclose(score.rhd[0], expected)
    assert expected[-1] == pytest.approx(1.0)


def test_a_label_file_an_itk_editor_saved_is_scored_at_its_images_voxel_size(tmp_path):
    """The bundle's evaluation loads through MONAI: a label file saved by ITK (unit code mm, no
    catseg3d description) over a 0.12 nm image is scored in nm, as the image is."""
    import SimpleITK as sitk
    from monai.transforms import LoadImage

    from catseg3d.io import Volume, write_nifti

    truth = np.zeros((32, 48), np.uint8)
    truth[8:24, 10:30] = 1
    write_nifti(Volume(truth.astype(np.float32), (0.12, 0.12)), tmp_path / "image.nii.gz")
    write_nifti(Volume(truth, (0.12, 0.12)), tmp_path / "ours.nii.gz")
    edited = sitk.ReadImage(str(tmp_path / "ours.nii.gz"))
    for key in edited.GetMetaDataKeys():
        edited.EraseMetaData(key)
    sitk.WriteImage(edited, str(tmp_path / "label.nii.gz"))
    load = LoadImage(image_only=True, ensure_channel_first=True)
    label, image = load(str(tmp_path / "label.nii.gz")), load(str(tmp_path / "image.nii.gz"))
    one_hot = torch.nn.functional.one_hot(label[0].long(), 3).permute(2, 0, 1).float()
    item = {"pred": MetaTensor(torch.roll(one_hot, 2, dims=1), affine=label.affine),  # 2 columns of 0.12 nm
            "label": MetaTensor(one_hot, affine=label.affine, meta=dict(label.meta)), "image": image}
    handler = EvaluationReportHandler(tmp_path / "report", keep_images=False)
    handler.collect(SimpleNamespace(state=SimpleNamespace(output=[item])))
    score = handler.evaluation.scores[0]
    assert score.spacing == (0.12, 0.12)
    assert score.rhd[0][-1] == pytest.approx(0.24)
