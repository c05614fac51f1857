"""scripts/experiment.py: one recipe, one command, one logged row equal to the evaluation report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO, run_script

from catseg3d.io.datalist import write_cross_validation_folds


def test_a_run_logs_the_numbers_of_its_evaluation_report(small_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_dataset, data)
    write_cross_validation_folds(data, folds=3)
    runs, record = tmp_path / "runs", tmp_path / "record"
    options = ["--minutes", "5", "--fold", "0", "--dataset_dir", str(data), "--runs", str(runs), "--record", str(record)]
    narrow = ["--network_def#features", "[8,16,32,64,128,256]"]
    command = [sys.executable, "scripts/experiment.py", "tiny", *options, "--", "--epochs", "1", *narrow]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    logged = [json.loads(line) for line in (record / "results.jsonl").read_text().splitlines()]
    # the best and the last epoch's network, each scored as trained and with test-time flips
    assert [(row["checkpoint"], row["tta"]) for row in logged] == [("best", False), ("best", True),
                                                                   ("last", False), ("last", True)]
    for row, folder in zip(logged, ("eval", "eval_tta", "eval_last", "eval_last_tta")):
        report = json.loads((runs / "tiny" / folder / "report.json").read_text())
        # the record keeps each evaluation's per-image scores, byte for byte (the networks stay in runs)
        assert (record / "tiny" / f"{folder}.csv").read_text() == (runs / "tiny" / folder / "per_image.csv").read_text()
        assert row["fold"] == 0 and row["n_images"] == report["n_images"] == 2  # fold 0 of 6 patches holds out 2
        for metric in ("dsc", "precision", "recall"):
            for name in ("background", "alumina", "pt"):
                assert row[f"{metric}_{name}"] == report["metrics"][metric][name]["mean"]
        assert row["rhd90_pt"] == report["rhd_nm"]["pt"]["90"]["mean"]
        assert 0 < row["compute_minutes"] < 5 and row["wall_minutes"] > 0 and row["epochs"] == 1
        assert row["command"].startswith("python scripts/experiment.py tiny --minutes 5 --fold 0 -- --epochs 1")
    assert sorted(p.name for p in (record / "tiny").iterdir()) == ["eval.csv", "eval_last.csv", "eval_last_tta.csv",
                                                                  "eval_tta.csv"]
    table = run_script("experiment.py", "--table", "--record", str(record))
    assert table.returncode == 0, table.stderr
    table = table.stdout
    assert table.strip().count("\n") == 5 and f"{logged[1]['dsc_pt']:.3f} | " in table

    # scored again with the recipe recorded at training (fold 0, its overrides) and an evaluation
    # override, recorded under another name: the run's rows stay
    cleaned = run_script("experiment.py", "tiny", "--evaluate_only", "--scored-as", "tiny_min50", "--runs", str(runs),
                         "--record", str(record), "--", "--min_size", "50")
    assert cleaned.returncode == 0, (cleaned.stdout + cleaned.stderr)[-3000:]
    rows = [json.loads(line) for line in (record / "results.jsonl").read_text().splitlines()]
    assert rows[:4] == logged and [r["name"] for r in rows[4:]] == ["tiny_min50"] * 4
    for row, folder in zip(rows[4:], ("eval", "eval_tta", "eval_last", "eval_last_tta")):
        report = json.loads((runs / "tiny_min50" / folder / "report.json").read_text())
        assert row["evaluation_overrides"] == ["--min_size", "50"] and row["fold"] == 0
        assert row["dsc_pt"] == report["metrics"]["dsc"]["pt"]["mean"]
        assert (record / "tiny_min50" / f"{folder}.csv").read_text() == (
            runs / "tiny_min50" / folder / "per_image.csv").read_text()
    assert any(r["dsc_alumina"] != o["dsc_alumina"] for r, o in zip(rows[4:], logged))  # small components relabelled
    assert not (runs / "tiny_min50" / "models").exists()  # the network scored is the run's

    retrain = run_script("experiment.py", *command[2:])
    assert retrain.returncode == 1 and retrain.stderr.strip() == (
        f"experiment: {runs}/tiny/models: holds a trained run already; choose another name "
        "(or score it again with --evaluate_only, or continue a killed run with --resume)")
    finished = run_script("experiment.py", "tiny", *options, "--resume", "--", "--epochs", "1", *narrow)
    assert finished.returncode == 1 and finished.stderr.strip() == (
        f"experiment: {runs}/tiny/models: its run finished (training.json); score it again with --evaluate_only")

    # a run killed after its first epoch (its folder as training left it), continued to 2 epochs
    shutil.copytree(runs / "tiny", runs / "killed", ignore=shutil.ignore_patterns("training.json", "eval*"))
    before = torch.load(runs / "killed" / "models" / "checkpoint_epoch=1.pt", weights_only=True)["compute_time"]
    resumed = subprocess.run([sys.executable, "scripts/experiment.py", "killed", *options, "--resume", "--",
                              "--epochs", "2", *narrow], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    after = torch.load(runs / "killed" / "models" / "checkpoint_epoch=2.pt", weights_only=True)["compute_time"]
    row = json.loads((runs / "killed" / "training.json").read_text())
    assert row["epochs"] == 2 and row["resumed"] is True
    assert row["compute_minutes"] == after["used_seconds"] / 60 and after["used_seconds"] > before["used_seconds"] > 0
    refold = run_script("experiment.py", "tiny", "--evaluate_only", "--fold", "1", "--runs", str(runs))
    assert refold.returncode == 1 and "--evaluate_only takes the recipe recorded there" in refold.stderr


def test_more_folds_than_patches_fails(small_dataset):
    with pytest.raises(ValueError, match="folds"):
        write_cross_validation_folds(small_dataset, folds=7)


def test_evaluating_a_run_that_was_never_trained_fails_in_one_line(tmp_path):
    result = run_script("experiment.py", "never", "--evaluate_only", "--runs", str(tmp_path), "--record", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == f"experiment: {tmp_path}/never/training.json: no trained run to evaluate"
    assert not (tmp_path / "results.jsonl").exists()


@pytest.mark.parametrize("scored_as, overrides, error", [
    ("trained", ["--", "--min_size", "16"], "--scored-as trained: a trained run's name; its record would be replaced"),
    ("tiny", ["--", "--min_size", "16"], "--scored-as tiny: a trained run's name; its record would be replaced"),
    ("tiny_min16", [], "--scored-as needs evaluation overrides after --"),
])
def test_scored_as_names_a_new_record_of_an_evaluation_override(tmp_path, scored_as, overrides, error):
    """--scored-as never replaces a trained run's rows (its own or another's), and without an
    override it would only copy the run's scores under a new name."""
    for run in ("tiny", "trained"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "training.json").write_text("{}")
    result = run_script("experiment.py", "tiny", "--evaluate_only", "--scored-as", scored_as, "--runs", str(tmp_path),
                        "--record", str(tmp_path), *overrides)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].endswith(error)
    assert not (tmp_path / "results.jsonl").exists()


def test_resume_and_evaluate_only_are_refused_together(tmp_path):
    result = run_script("experiment.py", "tiny", "--evaluate_only", "--resume", "--runs", str(tmp_path),
                        "--record", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("--resume continues training; --evaluate_only trains nothing")
    assert not (tmp_path / "results.jsonl").exists()
