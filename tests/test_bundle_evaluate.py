"""The bundle's evaluation workflow scores model.pt exactly as an independent numpy computation does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_bundle_here as run_bundle

from catseg3d.engines import latest_checkpoint
from catseg3d.inference import remove_small_components
from catseg3d.io import load_datalist, read_nifti
from catseg3d.metrics import percentile_hausdorff
from catseg3d.networks import PAPER_FEATURES, PaperUNet

CONFIGS = ["bundle/configs/train.yaml", "bundle/configs/evaluate.yaml"]


def test_evaluating_writes_the_report_of_the_trained_model(trained_bundle, small_dataset):
    root, _ = trained_bundle
    run_bundle("evaluating", CONFIGS, small_dataset, root)
    report = json.loads((root / "eval" / "report.json").read_text())
    assert report["n_images"] == 2 and report["spacing_nm"] == [0.12, 0.12]
    for name in ("report.md", "per_image.csv", "rhd_curve.png", "confusion.png", "worst_images.png"):
        assert (root / "eval" / name).stat().st_size > 0

    dsc, rhd = independent_scores(load(root / "models" / "model.pt"), small_dataset, flips=[()])
    expected = np.nanmean(dsc, axis=0)
    got = [report["metrics"]["dsc"][c]["mean"] for c in ("background", "alumina", "pt")]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert report["rhd_nm"]["alumina"]["95"]["mean"] == pytest.approx(np.nanmean(rhd), rel=1e-3)


def test_patches_stored_in_millimetres_are_scored_in_nanometres(trained_bundle, small_dataset, tmp_path):
    """SimpleITK (as ITK-SNAP) writes spacing in mm: 0.12 nm is 1.2e-7 in the header, unit mm."""
    import SimpleITK as sitk

    root, _ = trained_bundle
    datalist = {}
    for split in ("training", "validation"):
        datalist[split] = []
        for item in load_datalist(small_dataset, split):
            names = {}
            for key in ("image", "label"):
                image = sitk.ReadImage(item[key])
                image.SetSpacing([s * 1e-6 for s in image.GetSpacing()])  # nm -> mm
                names[key] = f"mm_{Path(item[key]).name}"
                sitk.WriteImage(image, str(tmp_path / names[key]))
            datalist[split].append(names)
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    assert read_nifti(tmp_path / datalist["validation"][0]["label"]).spacing == (0.12, 0.12)
    run_bundle("evaluating", CONFIGS, tmp_path, root, "--eval_dir", tmp_path / "eval")
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["spacing_nm"] == [0.12, 0.12]
    _, rhd = independent_scores(load(root / "models" / "model.pt"), small_dataset, flips=[()])
    assert report["rhd_nm"]["alumina"]["95"]["mean"] == pytest.approx(np.nanmean(rhd), rel=1e-3)


def test_evaluating_without_mirrored_borders(trained_bundle, small_dataset):
    """``--border 0``: the network sees the image alone, against its zero padding."""
    root, _ = trained_bundle
    run_bundle("evaluating", CONFIGS, small_dataset, root, "--border", "0", "--eval_dir", root / "eval_border0")
    report = json.loads((root / "eval_border0" / "report.json").read_text())
    got = [report["metrics"]["dsc"][c]["mean"] for c in ("background", "alumina", "pt")]
    weights = load(root / "models" / "model.pt")
    dsc, _ = independent_scores(weights, small_dataset, flips=[()], border=0)
    np.testing.assert_allclose(got, np.nanmean(dsc, axis=0), atol=1e-4)
    mirrored, _ = independent_scores(weights, small_dataset, flips=[()])
    assert not np.allclose(np.nanmean(mirrored, axis=0), got, atol=1e-6)


def test_evaluating_with_min_size_scores_the_cleaned_labels(trained_bundle, small_dataset):
    """``--min_size 50``: alumina and Pt components under 50 pixels take their surroundings' label
    before scoring, as ``catseg3d segment --min-size`` writes them."""
    root, _ = trained_bundle
    run_bundle("evaluating", CONFIGS, small_dataset, root, "--min_size", "50", "--eval_dir", root / "eval_min50")
    report = json.loads((root / "eval_min50" / "report.json").read_text())
    got = [report["metrics"]["dsc"][c]["mean"] for c in ("background", "alumina", "pt")]
    weights = load(root / "models" / "model.pt")
    dsc, rhd = independent_scores(weights, small_dataset, flips=[()], min_size=50)
    np.testing.assert_allclose(got, np.nanmean(dsc, axis=0), atol=1e-4)
    assert report["rhd_nm"]["alumina"]["95"]["mean"] == pytest.approx(np.nanmean(rhd), rel=1e-3)
    plain, _ = independent_scores(weights, small_dataset, flips=[()])
    assert not np.allclose(np.nanmean(plain, axis=0), got, atol=1e-6)  # there were small components to relabel


def load(path):
    """A checkpoint file's tensors (CPU, weights only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def independent_scores(weights, dataset, flips, features=PAPER_FEATURES, border=32, min_size=0):
    """DSC per class and alumina RHD95 per validation image, computed without the bundle.

    The U-Net in float32 on image / 255, mirrored outward by ``border`` pixels (numpy, at most
    size - 1); the softmax averaged over the given flips of the image (flipped back), cropped,
    argmax, components under ``min_size`` pixels relabelled (:func:`remove_small_components`, tested
    on its own in test_segment.py), DSC in numpy. The network sees slices as MONAI loads NIfTI, in
    (x, y) order, so the (y, x) arrays are transposed for it.
    """
    network = PaperUNet(features=features).eval()
    network.load_state_dict(weights)
    dsc, rhd = [], []
    for item in load_datalist(dataset, "validation"):
        image, truth = read_nifti(item["image"]).array, read_nifti(item["label"]).array
        borders = [min(border, size - 1) for size in image.shape]
        image = np.pad(image, [(b, b) for b in borders], mode="reflect")
        x = torch.from_numpy(image.T.astype(np.float32) / 255)[None, None]
        with torch.no_grad():
            probabilities = sum(torch.softmax(network(x.flip(f)), 1).flip(f) if f else torch.softmax(network(x), 1)
                                for f in flips)
        pred = probabilities.argmax(1)[0].numpy().T[borders[0]:borders[0] + truth.shape[0],
                                                     borders[1]:borders[1] + truth.shape[1]]
        pred = np.ascontiguousarray(pred)
        if min_size:
            remove_small_components(pred, min_size)
        dsc.append([2 * ((pred == c) & (truth == c)).sum() / ((pred == c).sum() + (truth == c).sum())
                    for c in range(3)])
        rhd.append(percentile_hausdorff(pred == 1, truth == 1, (95,), (0.12, 0.12))[0])
    return np.array(dsc, dtype=float), np.array(rhd)


def test_evaluating_with_flip_tta_scores_the_mean_over_four_flips(trained_bundle, small_dataset):
    root, _ = trained_bundle
    run_bundle("evaluating", CONFIGS, small_dataset, root, "--tta", "true", "--eval_dir", root / "eval_tta")
    report = json.loads((root / "eval_tta" / "report.json").read_text())
    dsc, rhd = independent_scores(load(root / "models" / "model.pt"), small_dataset, flips=[(), (2,), (3,), (2, 3)])
    got = [report["metrics"]["dsc"][c]["mean"] for c in ("background", "alumina", "pt")]
    np.testing.assert_allclose(got, np.nanmean(dsc, axis=0), atol=1e-4)
    assert report["rhd_nm"]["alumina"]["95"]["mean"] == pytest.approx(np.nanmean(rhd), rel=1e-3)
    plain, _ = independent_scores(load(root / "models" / "model.pt"), small_dataset, flips=[()])
    assert not np.allclose(np.nanmean(plain, axis=0), got, atol=1e-6)  # the flips change the segmentation


def test_evaluating_the_last_checkpoint_ignores_model_pt(trained_bundle, small_dataset, tmp_path):
    root, _ = trained_bundle
    last = Path(latest_checkpoint(root / "models"))
    shutil.copytree(root / "configs", tmp_path / "configs")  # a bundle: its metadata names the classes
    (tmp_path / "models").mkdir()
    shutil.copy(last, tmp_path / "models" / last.name)
    torch.manual_seed(1)
    torch.save(PaperUNet().state_dict(), tmp_path / "models" / "model.pt")  # an untrained network as "best"
    run_bundle("evaluating", CONFIGS, small_dataset, tmp_path, "--checkpoint", "last")
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    got = [report["metrics"]["dsc"][c]["mean"] for c in ("background", "alumina", "pt")]
    dsc, _ = independent_scores(load(last)["model"], small_dataset, flips=[()])
    np.testing.assert_allclose(got, np.nanmean(dsc, axis=0), atol=1e-4)
    untrained, _ = independent_scores(load(tmp_path / "models" / "model.pt"), small_dataset, flips=[()])
    assert not np.allclose(np.nanmean(untrained, axis=0), got, atol=1e-3)  # model.pt would score otherwise


def test_the_best_recipe_trains_and_scores_its_half_width_network(small_dataset, tmp_path):
    configs = ["bundle/configs/train.yaml", "bundle/configs/train_best.yaml"]
    run_bundle("training", configs, small_dataset, tmp_path, "--epochs", 2)
    state = load(latest_checkpoint(tmp_path / "models"))
    assert sum(w.numel() for w in state["model"].values()) == 7_775_347
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends at 0
    run_bundle("evaluating", CONFIGS, small_dataset, tmp_path)  # the width is read from the weights
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    dsc, _ = independent_scores(load(tmp_path / "models" / "model.pt"), small_dataset, flips=[()],
                                features=(16, 32, 64, 128, 256, 512))
    got = [report["metrics"]["dsc"][c]["mean"] for c in ("background", "alumina", "pt")]
    np.testing.assert_allclose(got, np.nanmean(dsc, axis=0), atol=1e-4)


def test_evaluating_without_a_model_fails(small_dataset, tmp_path):
    import subprocess

    from conftest import REPO, bundle_command

    result = subprocess.run(bundle_command("evaluating", CONFIGS, small_dataset, tmp_path), cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"catseg3d: error: {tmp_path}/models/model.pt: no trained model")
    assert not (tmp_path / "eval").exists()
