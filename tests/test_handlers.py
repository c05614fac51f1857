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
