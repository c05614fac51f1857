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


SHARE_PROGRAM = """
import json, sys
import torch.distributed as dist
from monai.bundle import ConfigWorkflow
configs, dataset, root, out = sys.argv[1:5]
workflow = ConfigWorkflow(config_file=json.loads(configs), workflow_type="train", dataset_dir=dataset, bundle_root=root)
workflow.initialize()  # joins the process group
seen = [name for batch in workflow.parser.get_parsed_content("train#dataloader")
        for name in batch["image"].meta["filename_or_obj"]]
open(f"{out}/rank{dist.get_rank()}.json", "w").write(json.dumps(seen))
"""


def test_each_rank_trains_on_its_own_share_of_the_training_list(small_dataset, tmp_path):
    """Under a real 2-process torchrun, the bundle's training loader gives each rank half of the
    training images; the halves are disjoint and together are the training list."""
    import json

    program = tmp_path / "share.py"
    program.write_text(SHARE_PROGRAM)
    configs = json.dumps(["bundle/configs/train.yaml", "bundle/configs/multi_gpu_train.yaml"])
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(program),
               configs, str(small_dataset), str(tmp_path / "run"), str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    training = sorted(item["image"] for item in json.loads((small_dataset / "datalist.json").read_text())["training"])
    assert [len(rank) for rank in ranks] == [2, 2]
    assert sorted(ranks[0] + ranks[1]) == training


LEAVE_SCRIPT = """
import sys, time
import torch.distributed as dist
from catseg3d.engines import init_distributed, leave_distributed, rank
init_distributed()
if rank() == 0:
    time.sleep(2.0)  # rank 0 still writing its files
leave_distributed()
print(f"rank {rank()} left at {time.time():.3f}; in a group: {dist.is_initialized()}", flush=True)
"""


def test_processes_leave_the_group_together(tmp_path):
    """leave_distributed waits for every process (rank 0 writes last) before the group is destroyed."""
    script = tmp_path / "leave.py"
    script.write_text(LEAVE_SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    left = {int(r): float(t) for r, t in re.findall(r"rank (\d) left at ([0-9.]+); in a group: False", result.stdout)}
    assert sorted(left) == [0, 1]
    assert abs(left[0] - left[1]) < 1.0  # rank 1 waited for rank 0's 2 seconds
    subprocess.run([sys.executable, "-c", "from catseg3d.engines import leave_distributed; leave_distributed()"],
                   check=True)  # outside a process group: nothing to leave
