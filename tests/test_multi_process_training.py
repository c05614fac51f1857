"""bundle/configs/multi_gpu_train.yaml: a real 2-process torchrun on the CPU (gloo)."""

from __future__ import annotations

import re
import subprocess
import sys

import torch
from conftest import REPO, bundle_command

FEATURES = ("--network_def#features", "[8,16,32,64,128,256]")  # a narrow network: a fast test
BEST = re.compile(r"Got new best metric of val_mean_dice: ([0-9.]+)")


def test_two_process_training_saves_one_model_scored_like_one_process(small_dataset, tmp_path):
    root = tmp_path / "bundle"
    train = bundle_command("training", ["bundle/configs/train.yaml", "bundle/configs/multi_gpu_train.yaml"],
                           small_dataset, root, "--epochs", 1, "--autocast", "false", *FEATURES)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *train[1:]]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert sorted(p.name for p in (root / "models").iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    assert len(BEST.findall(log)) == 1  # rank 0 logs, rank 1 does not
    assert log.count("Epoch[1] Metrics") == 1
    trained = float(BEST.search(log).group(1))
    state = torch.load(root / "models" / "model.pt", weights_only=True)
    assert not any(key.startswith("module.") for key in state)  # saved unwrapped from DDP

    evaluate = bundle_command("evaluating", ["bundle/configs/train.yaml", "bundle/configs/evaluate.yaml"],
                              small_dataset, root, "--autocast", "false", "--border", "0", *FEATURES)  # as validated
    result = subprocess.run(evaluate, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    single = float(BEST.search(result.stdout + result.stderr).group(1))
    assert abs(single - trained) <= 1e-6 * max(1.0, abs(single)), (trained, single)
