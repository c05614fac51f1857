"""One training recipe, one command: train on the real data, score like the paper, log one row.

A recipe is config overrides only: extra config files laid over ``bundle/configs/train.yaml``
(``--config scripts/recipes/NAME.yaml``) and/or ``--key value`` bundle overrides after ``--``.
The run trains with ``python -m monai.bundle run training`` under a compute-time budget
(``--minutes``, CPU time / threads) and is scored by the bundle's ``evaluating`` workflow
(Table 1 statistics and robust Hausdorff distances in nm) four times: the best
validation epoch's network (``models/model.pt``, chosen on the validation images as the paper
did) and the last epoch's (``--checkpoint last``: nothing chosen on them, the honest score of a
cross-validation fold), each as trained and with test-time flips (``--tta true``: the softmax
averaged over the four flips of each image). The run's networks and evaluation folders go to
``RUNS/NAME`` (not tracked); what the results need is kept in the tracked record ``RECORD``
(``docs/experiments``): one JSON line per evaluation in ``RECORD/results.jsonl`` (a run's earlier
lines are replaced: the recipe, the minutes and epochs of training, DSC / precision / recall per
class and RHD90 of alumina and Pt) and each evaluation's per-image scores as
``RECORD/NAME/EVAL.csv``, which ``scripts/cross_validation.py`` pools. ``--scored-as NAME2`` scores
a trained run with evaluation overrides (``-- --min_size 16``: the clean-up of ``catseg3d segment
--min-size``) and records them as the run NAME2, which can be paired with the run as trained.

    python scripts/experiment.py paper --minutes 60
    python scripts/experiment.py focal_dice --config scripts/recipes/focal_dice.yaml --minutes 60
    python scripts/experiment.py paper_fold2 --fold 2 --minutes 60     # 5-fold cross-validation
    python scripts/experiment.py wide --minutes 60 -- --learning_rate 0.0003
    python scripts/experiment.py paper --evaluate_only                  # score a trained run again (recipe in its training.json)
    python scripts/experiment.py paper --minutes 60 --resume            # continue a killed run (its command again)
    python scripts/experiment.py paper --evaluate_only --scored-as paper_min16 -- --min_size 16
    python scripts/experiment.py --table                                # every run as a Markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from catseg3d.engines import completed_epochs, latest_checkpoint
from catseg3d.io.atomic import write_text
from catseg3d.io.jsonfile import json_safe, write_json
from catseg3d.metrics.paper import CLASS_NAMES as CLASSES

REPO = Path(__file__).resolve().parents[1]


def bundle(run_id: str, configs: list[str], root: Path, dataset_dir: str, fold: int | None,
           overrides: list[str]) -> list[str]:
    """The ``python -m monai.bundle run`` command of one workflow of the recipe."""
    fold_options = [] if fold is None else ["--datalist_file", f"datalist_fold{fold}.json"]
    return [sys.executable, "-m", "monai.bundle", "run", run_id, "--config_file", str(configs),
            "--dataset_dir", dataset_dir, "--bundle_root", str(root), *fold_options, *overrides]


def row(name: str, run: dict, report: dict) -> dict:
    """The logged result of one evaluation of a run (means over the validation images)."""
    metrics = {f"{metric}_{c}": report["metrics"][metric][c]["mean"] for metric in ("dsc", "precision", "recall")
               for c in CLASSES}
    rhd = {f"rhd90_{c}": report["rhd_nm"][c]["90"]["mean"] for c in ("alumina", "pt")}
    return {"name": name, **run, "n_images": report["n_images"], **metrics, **rhd}


def markdown(rows: list[dict]) -> str:
    def number(value: float | None, digits: int) -> str:
        return "undefined" if value is None else f"{value:.{digits}f}"  # e.g. no Pt in any image

    lines = ["| run | fold | minutes | epochs | model | flip TTA | DSC bg / Al2O3 / Pt | Pt precision | Pt recall "
             "| RHD90 Al2O3 / Pt (nm) | command |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        scored = f" (scored with `{' '.join(r['evaluation_overrides'])}`)" if r.get("evaluation_overrides") else ""
        lines.append(f"| {r['name']} | {'' if r['fold'] is None else r['fold']} | {r['compute_minutes']:.0f} "
                     f"| {r['epochs']} | {r.get('checkpoint', 'best')} | {'yes' if r['tta'] else 'no'} "
                     f"| {' / '.join(number(r[f'dsc_{c}'], 3) for c in CLASSES)} "
                     f"| {number(r['precision_pt'], 3)} | {number(r['recall_pt'], 3)} "
                     f"| {number(r['rhd90_alumina'], 2)} / {number(r['rhd90_pt'], 2)} | `{r['command']}`{scored} |")
    return "\n".join(lines)


def read_rows(results: Path) -> list[dict]:
    """Every logged row of ``results.jsonl`` (none if there is no file yet)."""
    lines = results.read_text().splitlines() if results.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="-- --key value ...: bundle overrides")
    parser.add_argument("name", nargs="?", help="run name (its folder under --runs)")
    parser.add_argument("--config", action="append", default=[], help="recipe config laid over train.yaml")
    parser.add_argument("--minutes", type=float, help="compute-time budget of training (default 60)")
    parser.add_argument("--fold", type=int, help="train on datalist_fold{K}.json (5-fold CV over all 60 patches, each region held out whole)")
    parser.add_argument("--dataset_dir", help="the prepared dataset (default data/genc2022)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "experiments",
                        help="trained networks and evaluation folders (default runs/experiments)")
    parser.add_argument("--record", type=Path, default=REPO / "docs" / "experiments",
                        help="results.jsonl and per-image scores, tracked (default docs/experiments)")
    parser.add_argument("--table", action="store_true", help="print every logged run as a Markdown table")
    parser.add_argument("--resume", action="store_true",
                        help="continue a killed run from its newest checkpoint (give the run's command again); the "
                             "compute budget and minutes count the whole run")
    parser.add_argument("--evaluate_only", action="store_true",
                        help="score a trained run again with the recipe recorded in its training.json")
    parser.add_argument("--scored-as", metavar="NAME2",
                        help="with --evaluate_only: record the scores under NAME2 (not a trained run), and take the "
                             "overrides after -- as evaluation overrides (e.g. --min_size 16); the run's own record "
                             "stays")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, overrides = parser.parse_args(argv[:split]), argv[split + 1:]  # after --: bundle overrides
    results = args.record / "results.jsonl"
    if args.table:
        print(markdown(read_rows(results)))
        return
    if not args.name:
        parser.error("a run name is needed")
    if args.resume and args.evaluate_only:
        parser.error("--resume continues training; --evaluate_only trains nothing")
    if args.scored_as and not args.evaluate_only:
        parser.error("--scored-as needs --evaluate_only")
    if args.scored_as and not overrides:
        parser.error("--scored-as needs evaluation overrides after --")
    if args.scored_as and (args.runs / args.scored_as / "training.json").is_file():  # NAME's own too: it is trained
        parser.error(f"--scored-as {args.scored_as}: a trained run's name; its record would be replaced")
    root, name = args.runs / args.name, args.scored_as or args.name
    run = recorded_run(root, args, overrides) if args.evaluate_only else train(root, args, overrides)
    evaluation_overrides = overrides if args.scored_as else []
    if evaluation_overrides:
        run = {**run, "evaluation_overrides": evaluation_overrides}
    configs = ["bundle/configs/train.yaml", *run["configs"]]
    logged, per_image = [], {}
    for checkpoint in ("best", "last"):
        for tta in (False, True):
            eval_dir = args.runs / name / ("eval" + ("_last" if checkpoint == "last" else "") + ("_tta" if tta else ""))
            evaluate = bundle("evaluating", [*configs, "bundle/configs/evaluate.yaml"], root, run["dataset_dir"],
                              run["fold"], [*run["overrides"], *evaluation_overrides, "--eval_dir", str(eval_dir),
                                            "--tta", str(tta).lower(), "--checkpoint", checkpoint])
            run_in_this_process(evaluate)
            report = json.loads((eval_dir / "report.json").read_text())
            logged.append(row(name, {**run, "checkpoint": checkpoint, "tta": tta}, report))
            per_image[eval_dir.name] = (eval_dir / "per_image.csv").read_text()
    # the record changes only once every evaluation has succeeded: its scores and rows stay one set
    (args.record / name).mkdir(parents=True, exist_ok=True)
    for evaluation, text in per_image.items():
        write_text(args.record / name / f"{evaluation}.csv", text)
    kept = [r for r in read_rows(results) if r["name"] != name]
    write_text(results, "".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in [*kept, *logged]))
    print(markdown(logged))


def run_in_this_process(command: list[str]) -> None:
    """A ``python -m monai.bundle run ...`` command run in this process, from the repository as the
    command would be: the same command line, parsed by the same parser (fire), without starting
    Python, torch and MONAI again for each evaluation."""
    import fire
    from monai.bundle import run

    assert command[1:4] == ["-m", "monai.bundle", "run"], command
    before = Path.cwd()
    os.chdir(REPO)
    try:
        fire.Fire(run, command=command[4:])
    finally:
        os.chdir(before)


def recorded_run(root: Path, args: argparse.Namespace, overrides: list[str]) -> dict:
    """The recipe and training record of a trained run (``training.json``) for ``--evaluate_only``."""
    path = root / "training.json"
    if not path.is_file():
        raise SystemExit(f"experiment: {path}: no trained run to evaluate")
    if args.config or (overrides and not args.scored_as) or args.fold is not None or args.minutes is not None \
            or args.dataset_dir:
        raise SystemExit(f"experiment: {path}: --evaluate_only takes the recipe recorded there; give only the run name "
                         "(and evaluation overrides with --scored-as)")
    return json.loads(path.read_text())


def train(root: Path, args: argparse.Namespace, overrides: list[str]) -> dict:
    """Train the recipe with the bundle's training workflow; the recipe, its command, and the wall and
    compute minutes and epochs of training, also written to ``root/training.json``."""
    checkpoint = latest_checkpoint(root / "models")
    if checkpoint and not args.resume:
        raise SystemExit(f"experiment: {root / 'models'}: holds a trained run already; choose another name "
                         "(or score it again with --evaluate_only, or continue a killed run with --resume)")
    if args.resume and (not checkpoint or (root / "training.json").is_file()):
        raise SystemExit(f"experiment: {root / 'models'}: " + ("no checkpoint to resume from" if not checkpoint else
                         "its run finished (training.json); score it again with --evaluate_only"))
    minutes = 60.0 if args.minutes is None else args.minutes
    recipe = {"configs": args.config, "overrides": overrides, "fold": args.fold, "budget_minutes": minutes,
              "dataset_dir": args.dataset_dir or "data/genc2022",
              "command": " ".join(["python scripts/experiment.py", args.name,
                                   *sum((["--config", c] for c in args.config), []), "--minutes", f"{minutes:g}",
                                   *([] if args.fold is None else ["--fold", str(args.fold)]),
                                   *(["--", *overrides] if overrides else [])])}
    command = bundle("training", ["bundle/configs/train.yaml", *args.config], root, recipe["dataset_dir"], args.fold,
                     [*overrides, "--time_limit_minutes", str(minutes), *(["--resume", "true"] if args.resume else [])])
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=REPO, check=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    compute_minutes = (used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime) / 60 / torch.get_num_threads()
    if args.resume:  # this process saw only the last part: the whole run's count is in its newest checkpoint
        state = torch.load(latest_checkpoint(root / "models"), map_location="cpu", weights_only=True)
        compute_minutes = state["compute_time"]["used_seconds"] / 60
    run = {**recipe, "wall_minutes": (time.perf_counter() - start) / 60, "compute_minutes": compute_minutes,
           "epochs": completed_epochs(root / "models"), **({"resumed": True} if args.resume else {})}
    write_json(root / "training.json", run)
    return run


if __name__ == "__main__":
    main()
