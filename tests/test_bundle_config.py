"""The training config's parts, built by MONAI's ConfigParser exactly as the bundle builds them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from monai.bundle import ConfigParser

REPO = Path(__file__).resolve().parents[1]


def parser(dataset_dir=None):
    """train.yaml and metadata.json as ``monai.bundle run`` reads them, optionally with a dataset."""
    config = ConfigParser()
    config.read_config(REPO / "bundle" / "configs" / "train.yaml")
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
