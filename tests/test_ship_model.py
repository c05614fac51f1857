"""scripts/ship_model.py: a run's network becomes the bundle's float16 model.pt, or nothing changes."""

from __future__ import annotations

import torch
from conftest import run_script

from catseg3d.networks import PaperUNet


def ship(weights, bundle):
    return run_script("ship_model.py", weights, "--bundle", bundle)


def test_a_training_checkpoint_is_shipped_in_float16(tmp_path):
    (tmp_path / "bundle" / "models").mkdir(parents=True)
    state = PaperUNet(features=(4, 8, 16)).state_dict()
    torch.save({"model": state, "optimizer": {}}, tmp_path / "checkpoint_epoch=5.pt")
    result = ship(tmp_path / "checkpoint_epoch=5.pt", tmp_path / "bundle")
    assert result.returncode == 0, result.stderr
    shipped = torch.load(tmp_path / "bundle" / "models" / "model.pt", weights_only=True)
    assert shipped.keys() == state.keys()
    for key, value in state.items():
        assert shipped[key].dtype == torch.float16 and torch.equal(shipped[key], value.half()), key
    assert "(features [4, 8, 16]) in float16" in result.stdout


def test_other_weights_leave_the_shipped_model_alone(tmp_path):
    models = tmp_path / "bundle" / "models"
    models.mkdir(parents=True)
    (models / "model.pt").write_bytes(b"the old model")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    result = ship(tmp_path / "other.pt", tmp_path / "bundle")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"catseg3d: error: {tmp_path / 'other.pt'}: not the weights of a catseg3d PaperUNet (no 'down.0.0.weight')"
    assert (models / "model.pt").read_bytes() == b"the old model" and [p.name for p in models.iterdir()] == ["model.pt"]
