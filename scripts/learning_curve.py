"""How many labelled patches does fine-tuning need? The learning curve on the grouped folds.

For one grouped fold of the Genc data (``data/genc2022/datalist_fold{K}.json``: the held-out regions
never seen in training), take k labelled patches from k different training regions (k = 1, 2, 4,
8, drawn with ``--seed``), fine-tune with ``catseg3d finetune`` under a compute budget, and score
every held-out patch (DSC per class, mean over patches). Beside each model, the ilastik-style
baseline (:class:`catseg3d.baselines.PixelForest`) trained on the same labels and scored on the
same patches, with its minutes.

Labels are dense (the whole patch) or sparse (``--labels sparse``): 48 x 48 boxes, each centred on a
random pixel of one class in turn (background, alumina, Pt where the patch has any), as a user
would box examples of each class, until 10 % of the patch is labelled; everything else 255.

One JSON line per model in ``docs/experiments/learning_curve.jsonl`` (a row with the same key is
replaced).

    python scripts/learning_curve.py --fold 0 --patches 1 2 4 8 --start none --minutes 10
    python scripts/learning_curve.py --fold 0 --patches 2 4 --start none --labels sparse --minutes 10
    python scripts/learning_curve.py --fold 0 --patches 2 --start none --minutes 10 --set learning_rate=0.0005
    python scripts/learning_curve.py --table
    python scripts/learning_curve.py --summary     # means over the folds measured
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from catseg3d.baselines import PixelForest
from catseg3d.finetune import finetune
from catseg3d.inference.model import load_segmentation_model
from catseg3d.inference.predictor import Predictor
from catseg3d.io import Volume, read_nifti, write_nifti
from catseg3d.io.datalist import fold_datalist_name
from catseg3d.io.labels import UNLABELLED, keep_boxes
from catseg3d.metrics.confusion import class_scores, confusion_matrix
from catseg3d.metrics.paper import CLASS_NAMES

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "docs" / "experiments" / "learning_curve.jsonl"
BOX = 48
SPARSE_FRACTION = 0.10


def chosen_patches(training: list[dict], k: int, seed: int) -> list[dict]:
    """``k`` training patches from ``k`` different regions (regions in a seeded order, then a seeded
    patch of each)."""
    rng = np.random.default_rng(seed)
    regions = sorted({item["region"] for item in training})
    if k > len(regions):
        raise SystemExit(f"the fold's training part has {len(regions)} regions, fewer than {k}")
    picked = []
    for region in rng.permutation(regions)[:k]:
        items = [item for item in training if item["region"] == region]
        picked.append(items[int(rng.integers(len(items)))])
    return picked


def finished(bundle: Path) -> bool:
    """True once a fine-tuning run has recorded its epochs (at the end of training)."""
    metadata = bundle / "configs" / "metadata.json"
    return metadata.is_file() and "epochs" in json.loads(metadata.read_text()).get("finetune", {})


def dsc_per_class(predictions: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    """Mean over images of each class's DSC (images where a class is absent from both are left out)."""
    scores = np.array([class_scores(confusion_matrix(p, t, 3))["dsc"] for p, t in zip(predictions, truths)])
    means = {name: float(np.nanmean(scores[:, c])) for c, name in enumerate(CLASS_NAMES)}
    return {**{f"dsc_{name}": value for name, value in means.items()}, "dsc_mean": float(np.mean(list(means.values())))}


def write_row(row: dict) -> None:
    key = ("fold", "k", "start", "labels", "method", "seed", "settings")
    rows = [json.loads(line) for line in RECORD.read_text().splitlines()] if RECORD.exists() else []
    rows = [r for r in rows if tuple(r.get(x) for x in key) != tuple(row.get(x) for x in key)] + [row]
    RECORD.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(json.dumps(row))


def table() -> str:
    rows = [json.loads(line) for line in RECORD.read_text().splitlines()]
    lines = ["| fold | labelled patches | labels | method | minutes | DSC bg / Al2O3 / Pt | mean DSC |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["fold"], r["labels"], r["k"], r["method"], r["start"])):
        method = {"finetune": f"U-Net from {r['start']}", "no fine-tuning": f"{r['start']}, not fine-tuned"}.get(
            r["method"], r["method"])
        method += f" ({r['settings']})" if r.get("settings") else ""
        lines.append(f"| {r['fold']} | {r['k']} | {r['labels']} | {method} | {r['minutes']:.1f} | "
                     f"{r['dsc_background']:.3f} / {r['dsc_alumina']:.3f} / {r['dsc_pt']:.3f} | {r['dsc_mean']:.3f} |")
    return "\n".join(lines)


# settings equal to the finetune defaults, recorded explicitly by earlier rows (from scratch: Adam 5e-4)
DEFAULT_SETTINGS = {"scratch": "learning_rate=0.0005"}


def summary() -> str:
    """Mean over the folds of every method measured on two folds or more (a fold measured again:
    its latest row), and the folds it covers."""
    groups: dict[tuple, dict[int, dict]] = {}
    for r in (json.loads(line) for line in RECORD.read_text().splitlines()):
        settings = r.get("settings") or None
        settings = None if settings == DEFAULT_SETTINGS.get(r["start"]) else settings
        groups.setdefault((r["k"], r["labels"], r["method"], r["start"], settings), {})[r["fold"]] = r
    lines = ["| labelled patches | labels | method | folds | minutes | DSC bg / Al2O3 / Pt, mean over folds | mean DSC |",
             "|---|---|---|---|---|---|---|"]
    for (k, labels, method, start, settings), by_fold in sorted(groups.items(),
                                                                key=lambda g: (g[0][0], g[0][1], g[0][2], g[0][3])):
        rows = list(by_fold.values())
        if len(rows) < 2:
            continue
        name = {"finetune": f"U-Net from {start}", "no fine-tuning": f"{start}, not fine-tuned"}.get(method, method)
        name += f" ({settings})" if settings else ""
        mean = {key: float(np.mean([r[key] for r in rows])) for key in ("dsc_background", "dsc_alumina", "dsc_pt", "dsc_mean", "minutes")}
        folds = ", ".join(str(f) for f in sorted(r["fold"] for r in rows))
        lines.append(f"| {k} | {labels} | {name} | {folds} | {mean['minutes']:.1f} | {mean['dsc_background']:.3f} / "
                     f"{mean['dsc_alumina']:.3f} / {mean['dsc_pt']:.3f} | {mean['dsc_mean']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=REPO / "data" / "genc2022")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--patches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--start", default="none", help="parent bundle, or none (from scratch)")
    parser.add_argument("--labels", choices=["dense", "sparse"], default="dense")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-forest", action="store_true", help="only the fine-tuned models")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="a finetune bundle setting, e.g. learning_rate=0.0005 (recorded with the row)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "learning_curve")
    parser.add_argument("--table", action="store_true", help="print every row")
    parser.add_argument("--summary", action="store_true", help="print means over the folds")
    args = parser.parse_args()
    if args.table or args.summary:
        print(table() if args.table else summary())
        return
    datalist = json.loads((args.dataset / fold_datalist_name(args.fold)).read_text())
    held_out = datalist["validation"]
    images = [read_nifti(args.dataset / item["image"]).array for item in held_out]
    truths = [read_nifti(args.dataset / item["label"]).array for item in held_out]
    start_name = "scratch" if args.start == "none" else Path(args.start).name
    overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    variant = ",".join(f"{key}={value}" for key, value in overrides.items())
    for k in args.patches:
        if k == 0:  # the starting model itself, before any fine-tuning
            if args.start == "none":
                raise SystemExit("--patches 0 scores the --start model; from scratch there is none")
            predictor = Predictor(load_segmentation_model(args.start))
            predictions = [predictor(image[None], spacing=(0.12, 0.12))[0].argmax(0) for image in images]
            write_row({"fold": args.fold, "k": 0, "labels": "none", "seed": args.seed, "patches": [],
                       "labelled_pixels": 0, "n_held_out": len(held_out), "method": "no fine-tuning",
                       "start": start_name, **dsc_per_class(predictions, truths), "minutes": 0.0})
            continue
        picked = chosen_patches(datalist["training"], k, args.seed)
        name = f"fold{args.fold}_k{k}_{args.labels}_{start_name}_seed{args.seed}" + (f"_{variant}" if variant else "")
        folder = args.runs / name
        folder.mkdir(parents=True, exist_ok=True)
        image_files, label_files, labels = [], [], []
        for j, item in enumerate(picked):
            label = read_nifti(args.dataset / item["label"])
            array = (label.array if args.labels == "dense"
                     else keep_boxes(label.array, SPARSE_FRACTION, BOX, args.seed + j))
            labels.append(array)
            write_nifti(Volume(array, label.spacing), folder / f"labels_{j}.nii.gz")
            image_files.append(args.dataset / item["image"])
            label_files.append(folder / f"labels_{j}.nii.gz")
        common = {"fold": args.fold, "k": k, "labels": args.labels, "seed": args.seed,
                  "patches": [item["image"] for item in picked],
                  "labelled_pixels": int(sum((label != UNLABELLED).sum() for label in labels)),
                  "n_held_out": len(held_out)}
        if not args.no_forest:
            started = time.perf_counter()
            forest = PixelForest(seed=args.seed).fit([read_nifti(f).array for f in image_files], labels)
            predictions = [forest.predict(image) for image in images]
            write_row({**common, "method": "random forest", "start": "-", **dsc_per_class(predictions, truths),
                       "minutes": (time.perf_counter() - started) / 60})
        bundle = folder / "bundle"
        if bundle.exists() and not finished(bundle):  # an interrupted run: its budget is unknown, start again
            shutil.rmtree(bundle)
        if not bundle.exists():
            finetune(image_files, label_files, bundle, model=args.start, minutes=args.minutes, seed=args.seed,
                     overrides=overrides, report=print)
        model = load_segmentation_model(bundle)
        predictor = Predictor(model)
        predictions = [predictor(image[None], spacing=(0.12, 0.12))[0].argmax(0) for image in images]
        metadata = json.loads((bundle / "configs" / "metadata.json").read_text())["finetune"]
        write_row({**common, "method": "finetune", "start": start_name, "settings": variant or None,
                   **dsc_per_class(predictions, truths),
                   "minutes": args.minutes, "wall_minutes": metadata.get("minutes"), "epochs": metadata.get("epochs")})


if __name__ == "__main__":
    main()
