"""The training config's parts, built by MONAI's ConfigParser exactly as the bundle builds them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def in_repository(monkeypatch):
    """MONAI reads a config's ``%file#key`` macros relative to the working directory, as the bundle
    commands and scripts/experiment.py run them: from the repository root."""
    monkeypatch.chdir(REPO)


def parser(dataset_dir=None, recipes=()):
    """train.yaml (and recipes laid over it) and metadata.json as ``monai.bundle run`` reads them,
    optionally with a dataset."""
    config = ConfigParser()
    config.read_config([REPO / "bundle" / "configs" / "train.yaml", *(REPO / "scripts" / "recipes" / r for r in recipes)])
    config.read_meta(REPO / "bundle" / "configs" / "metadata.json")
    if dataset_dir is not None:
        config["dataset_dir"] = str(dataset_dir)
    return config


def test_paper_recipe():
    config = parser()
    assert config["epochs"] == 100 and config["batch_size"] == 2
    optimizer = config.get_parsed_content("optimizer")
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["lr"] == 5e-4
    loss = config.get_parsed_content("loss")
    assert loss.alpha.tolist() == torch.tensor([0.2, 0.3, 0.5]).tolist() and loss.gamma == 1.0
    network = config.get_parsed_content("network_def")
    assert sum(p.numel() for p in network.parameters()) == 31_093_987


def test_augmentation_draws_the_keras_generator_ranges(genc_prepared):
    """rotation +/-45 deg, shifts +/-10 % of 512 px, zoom 0.9-1.1 drawn per axis, shear 0.1 deg."""
    affine = parser(genc_prepared).get_parsed_content("train#random_transforms")[0]
    affine.set_random_state(0)
    grid = affine.rand_affine.rand_affine_grid
    draws = []
    for _ in range(400):
        grid.randomize()
        draws.append((grid.rotate_params[0], *grid.translate_params, *grid.scale_params, grid.shear_params[0]))
    rotate, tx, ty, sx, sy, shear = np.array(draws).T
    assert np.abs(rotate).max() <= math.pi / 4 and np.abs(rotate).max() > 0.95 * math.pi / 4
    assert np.abs([tx, ty]).max() <= 51.2 and np.abs([tx, ty]).max() > 0.95 * 51.2
    assert 0.9 <= min(sx.min(), sy.min()) and max(sx.max(), sy.max()) <= 1.1
    assert abs(np.corrcoef(sx, sy)[0, 1]) < 0.2  # zoom drawn independently per axis
    assert np.abs(shear).max() <= math.radians(0.1) + 1e-9
    assert affine.rand_affine.padding_mode == "reflection"
    assert affine.mode == ("bilinear", "nearest")


def test_augmented_labels_stay_labels_and_images_stay_in_range(genc_prepared):
    config = parser(genc_prepared)
    transforms = config.get_parsed_content("train#random_transforms")
    rng = np.random.default_rng(0)
    label = torch.as_tensor(rng.integers(0, 3, (1, 512, 512)), dtype=torch.float32)
    data = {"image": torch.rand(1, 512, 512), "label": label}
    for transform in transforms:
        transform.set_random_state(1)
        data = transform(data)
    assert set(torch.unique(data["label"]).tolist()) <= {0.0, 1.0, 2.0}
    assert data["image"].shape == (1, 512, 512) and 0.0 <= data["image"].min() and data["image"].max() <= 1.0
    assert not torch.equal(data["label"], label)  # something happened


def test_recipe_configs_override_the_loss_only():
    from catseg3d.losses import FocalDiceLoss

    config = ConfigParser()
    config.read_config([REPO / "bundle" / "configs" / "train.yaml", REPO / "scripts" / "recipes" / "focal_dice.yaml"])
    loss = config.get_parsed_content("loss")
    assert isinstance(loss, FocalDiceLoss) and loss.lambda_dice == 1.0
    assert loss.focal.alpha.tolist() == torch.tensor([0.2, 0.3, 0.5]).tolist() and loss.focal.gamma == 1.0
    assert config["epochs"] == 100 and config["learning_rate"] == 5e-4


def test_the_paper_recipe_neither_crops_nor_changes_intensities(genc_prepared):
    config = parser(genc_prepared)
    assert config.get_parsed_content("train#deformation") == []
    assert config.get_parsed_content("train#sampling") == []
    assert config.get_parsed_content("train#intensity_transforms") == []


def test_pt_crops_favour_pt(genc_prepared):
    """Crops of 256 px centred on background, alumina and Pt pixels as 1 : 1 : 2.

    A centre near the border is moved inwards, but the crop still holds the drawn pixel: at least
    half the crops hold Pt, far more than the share of all 256-px windows of the patch that do.
    """
    config = parser(genc_prepared, ["pt_crops.yaml"])
    crop = config.get_parsed_content("train#sampling")[0]
    crop.set_random_state(0)
    load = config.get_parsed_content("validate#preprocessing")  # the deterministic transforms
    items = config.get_parsed_content("train#dataset").data
    sample = next(s for s in map(load, items) if 100 < (s["label"] == 2).sum() < 1000)  # a patch with Pt
    crops = [c for _ in range(50) for c in crop(sample)]
    assert len(crops) == 200 and all(c["image"].shape == c["label"].shape == (1, 256, 256) for c in crops)
    with_pt = np.mean([bool((c["label"] == 2).any()) for c in crops])
    pt = (sample["label"][0] == 2).numpy()
    windows = np.lib.stride_tricks.sliding_window_view(np.cumsum(np.cumsum(np.pad(pt, ((1, 0), (1, 0))), 0), 1),
                                                       (257, 257))
    pt_per_window = windows[..., -1, -1] - windows[..., 0, -1] - windows[..., -1, 0] + windows[..., 0, 0]
    uniform = (pt_per_window > 0).mean()  # share of all window positions that hold Pt
    assert with_pt >= 0.5 and with_pt > uniform + 0.1
    batch = next(iter(config.get_parsed_content("train#dataloader")))
    assert batch["image"].shape == (8, 1, 256, 256)  # 2 patches x 4 crops per step


def test_intensity_recipe_changes_intensities_only(genc_prepared):
    config = parser(genc_prepared, ["intensity.yaml"])
    transforms = config.get_parsed_content("train#intensity_transforms")
    image = torch.rand(1, 64, 64)
    label = torch.randint(0, 3, (1, 64, 64)).float()
    changed = 0
    for seed in range(20):
        data = {"image": image.clone(), "label": label.clone()}
        for index, transform in enumerate(transforms):
            transform.set_random_state(10 * seed + index)
            data = transform(data)
        assert torch.equal(data["label"], label) and data["image"].shape == image.shape
        changed += not torch.allclose(data["image"], image)
    assert changed >= 15  # five transforms, each with probability 0.2-0.5


def test_elastic_recipe_moves_image_and_labels_together(genc_prepared):
    """On a real label patch and an image made from it (label / 2), the deformed image still reads
    the deformed labels away from boundaries; the same draw on an image of row numbers moves the
    interior by the documented 3-6 pixels."""
    from catseg3d.io import load_datalist, read_nifti

    config = parser(genc_prepared, ["elastic.yaml"])
    (elastic,) = config.get_parsed_content("train#deformation")
    elastic.prob = 1.0
    label = torch.from_numpy(read_nifti(load_datalist(genc_prepared, "training")[0]["label"]).array[None].astype(np.float32))
    elastic.set_random_state(0)
    data = elastic({"image": label / 2, "label": label.clone()})
    assert set(torch.unique(data["label"]).tolist()) <= {0.0, 1.0, 2.0}
    assert (torch.round(data["image"] * 2) == data["label"]).float().mean() > 0.99
    assert (data["label"] != label).sum() > 100

    rows = torch.arange(512.0)[None, :, None].expand(1, 512, 512).clone()
    elastic.set_random_state(0)
    moved = (elastic({"image": rows, "label": label.clone()})["image"] - rows)[0, 64:-64, 64:-64].abs()
    assert 1.0 < moved.mean() < 6.0 and moved.max() < 25.0


def test_train_best_is_the_recipe_the_experiments_ran(genc_prepared):
    from catseg3d.losses import FocalDiceLoss

    best = parser(genc_prepared)
    best.read_config([REPO / "bundle" / "configs" / "train.yaml", REPO / "bundle" / "configs" / "train_best.yaml"])
    runs = parser(genc_prepared, ["focal_dice.yaml", "cosine.yaml"])
    runs["epochs"], runs["network_def#features"] = 180, [16, 32, 64, 128, 256, 512]  # experiment.py -- overrides
    for config in (best, runs):
        config["dataset_dir"] = str(genc_prepared)
        config.parse()  # expands the recipes' %bundle/configs/train_best.yaml#... macros
    for key in ("epochs", "network_def", "loss", "lr_scheduler", "lr_schedule_handler", "optimizer",
                "train#trainer#train_handlers", "train#preprocessing", "focal_alpha", "learning_rate"):
        assert best[key] == runs[key], key
    loss = best.get_parsed_content("loss")
    assert isinstance(loss, FocalDiceLoss) and loss.lambda_dice == 1.0 and loss.focal.gamma == 1.0
    assert loss.focal.alpha.tolist() == torch.tensor([0.2, 0.3, 0.5]).tolist()
    schedule = best.get_parsed_content("lr_scheduler")
    assert isinstance(schedule, torch.optim.lr_scheduler.CosineAnnealingLR) and schedule.T_max == 180
    assert sum(p.numel() for p in best.get_parsed_content("network_def").parameters()) == 7_775_347


def test_cosine_recipe_decays_the_rate_to_zero_over_the_epochs(genc_prepared):
    from monai.handlers import LrScheduleHandler

    config = parser(genc_prepared, ["cosine.yaml"])
    config["epochs"] = 10
    handlers = config.get_parsed_content("train#trainer#train_handlers")
    schedule = [h for h in handlers if isinstance(h, LrScheduleHandler)]
    assert len(schedule) == 1
    optimizer = config.get_parsed_content("optimizer")
    rates = []
    for _ in range(10):
        schedule[0].lr_scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    expected = [5e-4 * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(1, 11)]
    np.testing.assert_allclose(rates, expected, atol=1e-12)



def test_workflow_outputs_are_not_tracked_files():
    """Run from a checkout, neither training (its run folder, checkpoints, generated dataset) nor the
    evaluation of the shipped bundle (its report) writes over a tracked file: the shipped model's
    report lives in bundle/docs/eval, its weights in bundle/models/model.pt."""
    import subprocess

    def parsed(names, key):
        config = ConfigParser()
        config.read_config([REPO / "bundle" / "configs" / name for name in names])
        config.read_meta(REPO / "bundle" / "configs" / "metadata.json")
        return Path(config.get_parsed_content(key))

    train = ["train.yaml"]
    evaluate = ["train.yaml", "evaluate.yaml"]
    assert parsed(evaluate, "bundle_root") == Path("bundle")
    outputs = [parsed(train, "ckpt_dir") / "model.pt", parsed(train, "ckpt_dir") / "checkpoint_epoch=1.pt",
               parsed(train, "simulated_dir") / "datalist.json",
               parsed(evaluate, "eval_dir") / "report.json", parsed(evaluate, "eval_dir") / "per_image.csv"]
    for path in outputs:
        assert not path.is_absolute()
        assert subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO).returncode == 0, path
    tracked = subprocess.run(["git", "ls-files", *{str(path.parent) for path in outputs}], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    assert tracked == ""
