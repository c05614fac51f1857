"""The bundle's evaluation workflow scores model.pt exactly as an independent numpy computation does."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_bundle

from catseg3d.io import load_datalist, read_nifti
from catseg3d.metrics import percentile_hausdorff
from catseg3d.networks import PaperUNet

CONFIGS = ["bundle/configs/train.yaml", "bundle/configs/evaluate.yaml"]


def test_evaluating_writes_the_report_of_the_trained_model(trained_bundle, small_dataset):
    root, _ = trained_bundle
    run_bundle("evaluating", CONFIGS, small_dataset, root)
    report = json.loads((root / "eval" / "report.json").read_text())
    assert report["n_images"] == 2 and report["spacing_nm"] == [0.12, 0.12]
    for name in ("report.md", "per_image.csv", "rhd_curve.png", "confusion.png", "worst_images.png"):
        assert (root / "eval" / name).stat().st_size > 0

    # independent: the U-Net in float32 on image / 255, argmax, DSC per class in numpy. The network
    # sees slices as MONAI loads NIfTI, in (x, y) order, so the (y, x) arrays are transposed for it.
    network = PaperUNet().eval()
    network.load_state_dict(torch.load(root / "models" / "model.pt", map_location="cpu", weights_only=True))
    dsc, rhd = [], []
    for item in load_datalist(small_dataset, "validation"):
        image, truth = read_nifti(item["image"]).array, read_nifti(item["label"]).array
        with torch.no_grad():
            logits = network(torch.from_numpy(image.T.astype(np.float32) / 255)[None, None])
        pred = logits.argmax(1)[0].numpy().T
        dsc.append([2 * ((pred == c) & (truth == c)).sum() / ((pred == c).sum() + (truth == c).sum())
                    for c in range(3)])
        rhd.append(percentile_hausdorff(pred == 1, truth == 1, (95,), (0.12, 0.12))[0])
    expected = np.nanmean(np.array(dsc, dtype=float), axis=0)
    got = [report["metrics"]["dsc"][c]["mean"] for c in ("background", "alumina", "pt")]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert report["rhd_nm"]["alumina"]["95"]["mean"] == pytest.approx(np.nanmean(rhd), rel=1e-3)


def test_evaluating_without_a_model_fails(small_dataset, tmp_path):
    import subprocess

    from conftest import REPO, bundle_command

    result = subprocess.run(bundle_command("evaluating", CONFIGS, small_dataset, tmp_path), cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"catseg3d: {tmp_path}/models/model.pt: no trained model")
    assert not (tmp_path / "eval").exists()
