"""The bundle's training job, run as users run it: `python -m monai.bundle run training ...`."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from functools import partial

import torch
from conftest import REPO
from conftest import bundle_command as any_bundle_command
from conftest import run_bundle as run_any_bundle
from conftest import run_bundle_here as run_any_bundle_here

from catseg3d.io import load_datalist
from catseg3d.networks import PaperUNet

bundle_command = partial(any_bundle_command, "training", ["bundle/configs/train.yaml"])
run_bundle = partial(run_any_bundle, "training", ["bundle/configs/train.yaml"])
run_bundle_here = partial(run_any_bundle_here, "training", ["bundle/configs/train.yaml"])


def load_model(path):
    network = PaperUNet()
    network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return network


def test_one_epoch_on_real_patches_writes_the_best_model(trained_bundle):
    root, result = trained_bundle
    models = root / "models"
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    load_model(models / "model.pt")  # a flat state_dict of the paper's U-Net
    state = torch.load(models / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=True)
    assert sorted(state) == ["best_model_saver", "checkpointer", "compute_time", "model", "optimizer", "trainer"]
    assert 0 < state["compute_time"]["used_seconds"] < 600
    assert state["trainer"]["iteration"] == 2  # 4 patches, batch 2
    assert "val_mean_dice" in result.stdout and "Traceback" not in result.stderr
    assert list((root / "logs").glob("events.out.tfevents.*"))  # TensorBoard log


def test_same_seed_same_weights(trained_bundle, small_dataset, tmp_path):
    run_bundle_here(small_dataset, tmp_path, "--epochs", 1)
    first = load_model(trained_bundle[0] / "models" / "model.pt").state_dict()
    again = load_model(tmp_path / "models" / "model.pt").state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_killed_run_resumes_from_its_last_checkpoint_and_keeps_the_best_model(small_dataset, tmp_path):
    models = tmp_path / "models"
    process = subprocess.Popen(bundle_command(small_dataset, tmp_path, "--epochs", 4), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (models / "checkpoint_epoch=2.pt").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # killed while epoch 3 runs, or while saving epoch 2
    process.wait()
    checkpoints = sorted(models.glob("checkpoint_epoch=*.pt"))
    assert [p.name for p in checkpoints] == ["checkpoint_epoch=1.pt", "checkpoint_epoch=2.pt"]

    # pretend the best score so far is a record the resumed epochs cannot beat: model.pt must stay
    state = torch.load(checkpoints[1], map_location="cpu", weights_only=True)
    assert state["best_model_saver"]["_saved"][0][1] == "model.pt"
    state["best_model_saver"]["_saved"] = [(1.0, "model.pt")]
    state["compute_time"]["used_seconds"] = 1000.0  # and a count the resumed run must go on from
    torch.save(state, models / "checkpoint_epoch=2.pt")
    best_before = (models / "model.pt").read_bytes()

    result = run_bundle(small_dataset, tmp_path, "--epochs", 4, "--resume", "true")
    assert f"Restored all variables from {models}/checkpoint_epoch=2.pt" in result.stdout
    assert "Epoch[2] Metrics" not in result.stdout  # epochs 1 and 2 are not trained again
    assert "Epoch[3] Metrics" in result.stdout and "Epoch[4] Metrics" in result.stdout
    final = torch.load(models / "checkpoint_epoch=4.pt", map_location="cpu", weights_only=True)
    assert final["trainer"]["iteration"] == 8  # 4 epochs of 2 iterations
    assert 1000.0 < final["compute_time"]["used_seconds"] < 1600.0
    assert (models / "model.pt").read_bytes() == best_before
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch=3.pt", "checkpoint_epoch=4.pt", "model.pt"]


def test_resume_with_nothing_to_resume_stops_with_one_line(small_dataset, tmp_path):
    result = subprocess.run(bundle_command(small_dataset, tmp_path, "--epochs", 1, "--resume", "true"),
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        f"catseg3d: error: {tmp_path}/models: no checkpoint_epoch=N.pt to resume from"


def test_missing_datalist_says_how_to_make_it(tmp_path):
    result = subprocess.run(bundle_command(tmp_path / "nowhere", tmp_path, "--epochs", 1), cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"catseg3d: error: {tmp_path}/nowhere/datalist.json: datalist not found; make one with "
                    "catseg3d prepare-genc2022 SRC DEST (SRC: the authors' data folder) or write it by hand")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_lowercase_false_switches_are_false(trained_bundle, small_dataset, tmp_path):
    """`--resume false --autocast false`: the strings "false" must not count as true."""
    run_bundle_here(small_dataset, tmp_path, "--epochs", 1, "--resume", "false", "--autocast", "false",
                    "--channels_last", "false")  # "--resume true" would find nothing to resume and fail
    float32 = load_model(tmp_path / "models" / "model.pt").state_dict()
    bfloat16 = load_model(trained_bundle[0] / "models" / "model.pt").state_dict()
    assert not all(torch.equal(float32[k], bfloat16[k]) for k in float32)  # same seed, other precision


def test_a_checkpoint_copied_alone_to_a_new_folder_resumes(trained_bundle, small_dataset, tmp_path):
    """The restored savers remember files that are not in the new folder; saving must not fail."""
    (tmp_path / "models").mkdir()
    source = trained_bundle[0] / "models" / "checkpoint_epoch=1.pt"
    (tmp_path / "models" / source.name).write_bytes(source.read_bytes())
    run_bundle_here(small_dataset, tmp_path, "--epochs", 3, "--resume", "true")
    assert sorted(p.name for p in (tmp_path / "models").glob("checkpoint_epoch=*.pt")) == \
        ["checkpoint_epoch=2.pt", "checkpoint_epoch=3.pt"]


def test_a_resumed_best_recipe_run_continues_its_cosine_schedule(small_dataset, tmp_path):
    configs = ["bundle/configs/train.yaml", "bundle/configs/train_best.yaml"]
    models = tmp_path / "models"
    process = subprocess.Popen(any_bundle_command("training", configs, small_dataset, tmp_path, "--epochs", 3),
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (models / "checkpoint_epoch=1.pt").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # killed while epoch 2 runs, or while saving epoch 1
    process.wait()
    for name in ("checkpoint_epoch=2.pt", "checkpoint_epoch=3.pt"):
        (models / name).unlink(missing_ok=True)  # resume from epoch 1 whatever the kill's timing

    run_any_bundle_here("training", configs, small_dataset, tmp_path, "--epochs", 3, "--resume", "true")
    for epoch in (2, 3):  # Adam's rate after each epoch: 5e-4 (1 + cos(pi epoch / 3)) / 2
        state = torch.load(models / f"checkpoint_epoch={epoch}.pt", map_location="cpu", weights_only=True)
        expected = 5e-4 * (1 + math.cos(math.pi * epoch / 3)) / 2
        assert abs(state["optimizer"]["param_groups"][0]["lr"] - expected) < 1e-12, epoch
        assert state["lr_scheduler"]["last_epoch"] == epoch


def test_the_run_folder_is_a_bundle_that_segment_pack_and_evaluating_take(small_dataset, tmp_path, capsys):
    """By default training writes to runs/<dataset folder> of the working directory, with the configs
    and a metadata.json of the training images' pixel size beside its models."""
    import json

    from catseg3d.cli.main import main

    configs = [str(REPO / "bundle" / "configs" / name) for name in ("train.yaml", "train_best.yaml")]
    command = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", str(configs),
               "--dataset_dir", str(small_dataset), "--configs_dir", str(REPO / "bundle" / "configs"),
               "--epochs", "1", "--network_def#features", "[8,16,32,64,128,256]"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "runs" / small_dataset.name
    assert sorted(p.name for p in (run / "models").iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    assert list((run / "logs").glob("events.out.tfevents.*"))
    shipped = json.loads((REPO / "bundle" / "configs" / "metadata.json").read_text())
    metadata = json.loads((run / "configs" / "metadata.json").read_text())
    assert metadata["network_data_format"]["inputs"]["image"]["spacing_nm"] == [0.12, 0.12]
    assert metadata["intensity_mapping"] == shipped["intensity_mapping"]
    assert (run / "configs" / "train.yaml").read_bytes() == (REPO / "bundle" / "configs" / "train.yaml").read_bytes()

    image = load_datalist(small_dataset, "validation")[0]["image"]
    assert main(["segment", image, str(tmp_path / "labels.nii.gz"), "--model", str(run)]) == 0
    assert main(["pack", str(run), str(tmp_path / "run.zip")]) == 0
    evaluate = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file",
                str([configs[0], str(REPO / "bundle" / "configs" / "evaluate.yaml")]),
                "--dataset_dir", str(small_dataset), "--bundle_root", str(run)]
    scored = subprocess.run(evaluate, cwd=tmp_path, capture_output=True, text=True)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert json.loads((run / "eval" / "report.json").read_text())["n_images"] == 2

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 1 and again.stderr.strip().splitlines()[-1] == (
        f"catseg3d: error: runs/{small_dataset.name}/models: holds a trained run; continue it with --resume true or "
        "train into another folder (--bundle_root DIR)")


def test_training_never_writes_over_a_shipped_model(small_dataset, tmp_path):
    shipped = tmp_path / "shipped"
    (shipped / "models").mkdir(parents=True)
    (shipped / "models" / "model.pt").write_bytes(b"the shipped weights")
    result = subprocess.run(bundle_command(small_dataset, shipped, "--epochs", 1), cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == (
        f"catseg3d: error: {shipped}/models: holds a model that is not a training run's (a shipped model?); train into "
        "another folder (--bundle_root DIR)")
    assert [p.name for p in (shipped / "models").iterdir()] == ["model.pt"]
    assert (shipped / "models" / "model.pt").read_bytes() == b"the shipped weights"


def test_a_checkpoint_from_before_the_compute_count_resumes_with_the_count_from_zero(trained_bundle, small_dataset,
                                                                                    tmp_path):
    """Checkpoints of bundles before 0.10.4 hold no compute_time; such a run still resumes."""
    from catseg3d.engines import parts_to_resume

    (tmp_path / "models").mkdir()
    state = torch.load(trained_bundle[0] / "models" / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=True)
    del state["compute_time"]
    torch.save(state, tmp_path / "models" / "checkpoint_epoch=1.pt")
    wanted = {"model": 1, "optimizer": 2, "compute_time": 3}
    assert parts_to_resume(wanted, tmp_path / "models" / "checkpoint_epoch=1.pt") == {"model": 1, "optimizer": 2}
    del state["optimizer"]  # anything else missing is still an error
    torch.save(state, tmp_path / "broken.pt")
    assert parts_to_resume(wanted, tmp_path / "broken.pt") == {"model": 1, "optimizer": 2}

    run_bundle_here(small_dataset, tmp_path, "--epochs", 2, "--resume", "true")
    final = torch.load(tmp_path / "models" / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=True)
    assert final["trainer"]["iteration"] == 4
    one_epoch = torch.load(trained_bundle[0] / "models" / "checkpoint_epoch=1.pt", weights_only=True)["compute_time"]
    assert 0 < final["compute_time"]["used_seconds"] < 10 * one_epoch["used_seconds"] + 60  # this process's only
