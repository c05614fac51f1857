"""Pool the K folds of a cross-validated recipe and compare them with its run on the 15 patches.

Each fold ``NAME_fold{k}`` is a run of ``scripts/experiment.py NAME_fold{k} --fold k ...``: trained on
the other folds' patches and scored on its own held-out patches (``datalist_fold{k}.json``; the 60
patches split into 5 folds of 12 that keep each region whole, :mod:`catseg3d.io.regions`). The folds' per-image scores (``RECORD/NAME_fold{k}/EVAL.csv``,
one file per evaluation in the tracked record the harness keeps, ``docs/experiments``) are pooled,
so every patch is scored once by a model that never saw it, and summarised as mean ± 95 % CI over
the images (``catseg3d.metrics.mean_ci95``, as the paper's Table 1). The
reference run (the recipe trained on the 45 patches and scored on the 15) is summarised the same way,
and a metric agrees when the reference mean lies inside the cross-validation's CI (a plain check: it
ignores the reference's own, wider CI, and its 15 patches are among the 60). Robust Hausdorff means
leave out images where the class is in only one of prediction and truth; they are counted.
``--against OTHER`` compares two recipes on the same held-out images: for each score, the mean ±
95 % CI of the per-image difference NAME - OTHER (fold k against fold k, images matched by name,
those where either score is undefined left out); a difference whose CI excludes 0 is marked. Pairs
see through the spread between images that makes two separate CIs overlap. ``--against-evaluation
EVAL`` pairs each of NAME's evaluations with OTHER's folder EVAL (e.g. a recipe's last epoch against
the other's epoch chosen by validation, ``eval``).

    python scripts/cross_validation.py best64 --reference best64
    python scripts/cross_validation.py best64 --reference best64 --evaluations eval_last eval_last_tta
    python scripts/cross_validation.py best64 --reference best64 --images val_   # the 15 patches only
    python scripts/cross_validation.py best64_elastic --folds 2 --against best64  # paired, folds 0-1
    python scripts/cross_validation.py best180 --folds 4 --against best64 --against-evaluation eval
    python scripts/cross_validation.py best180_min10 --first-fold 1 --folds 2 --against best180  # folds 1-2

Prints a Markdown table and writes ``RECORD/NAME_cv[_IMAGES][_foldsF-L][_against_OTHER[_EVAL]].json`` (the
folds part where they are not all five, 0-4), so that a screen on some folds or a comparison does not
replace the recipe's summary.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from catseg3d.io.jsonfile import write_json
from catseg3d.metrics import mean_ci95
from catseg3d.metrics.paper import CLASS_NAMES

REPO = Path(__file__).resolve().parents[1]
COLUMNS = (*(f"{metric}_{c}" for c in CLASS_NAMES for metric in ("dsc", "precision", "recall")),
           "rhd90_nm_alumina", "rhd90_nm_pt")
STATUS = {"rhd90_nm_alumina": "rhd_status_alumina", "rhd90_nm_pt": "rhd_status_pt"}  # "undefined": class in one map only
PARTICLES = ("particles_true_pt", "particles_found_pt", "particles_false_pt")  # absent from older records
SHOWN = ("dsc_background", "dsc_alumina", "dsc_pt", "precision_pt", "recall_pt", "rhd90_nm_alumina", "rhd90_nm_pt")


def read_scores(path: Path, images: str = "") -> dict[str, np.ndarray]:
    """The per-image scores of one evaluation's CSV (the report's ``per_image.csv``): column -> float array (NaN where a score is
    undefined), and for each RHD column its status column -> string array; only the images whose
    name starts with ``images`` (all by default)."""
    if not path.is_file():
        raise SystemExit(f"cross_validation: {path}: no per-image scores; score the run with scripts/experiment.py")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    missing = [c for c in (*COLUMNS, *STATUS.values()) if rows and c not in rows[0]]
    if not rows or missing:
        raise SystemExit(f"cross_validation: {path}: no rows or missing columns {missing}")
    has_particles = all(c in rows[0] for c in PARTICLES)
    rows = [r for r in rows if r["name"].startswith(images)]
    try:
        scores = {c: np.array([float(r[c]) for r in rows]) for c in COLUMNS}
    except ValueError as error:
        raise SystemExit(f"cross_validation: {path}: {error}") from None
    if has_particles:
        scores.update({c: np.array([int(r[c]) for r in rows]) for c in PARTICLES})
    return {**scores, **{c: np.array([r[c] for r in rows]) for c in (*STATUS.values(), "name")}}


def summarize(scores: list[dict[str, np.ndarray]]) -> dict[str, dict]:
    """Mean ± 95 % CI of every column over the images of all given score tables together; an RHD
    column also counts its undefined images (left out of its mean, as in the evaluation report), and
    Pt DSC counts the images without Pt and those of them where Pt was predicted (DSC 0). Pt DSC and
    precision also carry ``with_pt``: their mean, CI and n over the images with Pt in the truth only
    (those whose Pt recall is defined)."""
    summary = {c: mean_ci95(np.concatenate([s[c] for s in scores])) for c in COLUMNS}
    for column, status in STATUS.items():
        summary[column]["n_undefined"] = int(sum((s[status] == "undefined").sum() for s in scores))
    # images without Pt in the truth (recall undefined): Pt DSC and precision are 0 where Pt is predicted there
    without_pt = [np.isnan(s["recall_pt"]) for s in scores]
    summary["dsc_pt"]["n_without_pt"] = int(sum(w.sum() for w in without_pt))
    summary["dsc_pt"]["n_false_pt"] = int(sum((s["dsc_pt"][w] == 0).sum() for s, w in zip(scores, without_pt)))
    for column in ("dsc_pt", "precision_pt"):
        summary[column]["with_pt"] = mean_ci95(np.concatenate([s[column][~w] for s, w in zip(scores, without_pt)]))
    if all(PARTICLES[0] in s for s in scores):
        true, found, false = (int(sum(s[c].sum() for s in scores)) for c in PARTICLES)
        summary["pt_particles"] = {"true": true, "found": found, "false": false,
                                   "recall": found / true if true else math.nan}
    return summary


def paired_differences(scores: list[dict[str, np.ndarray]], others: list[dict[str, np.ndarray]],
                       paths: list[Path]) -> dict[str, dict]:
    """Mean ± 95 % CI of the per-image differences ``scores - others`` of every column, fold by fold
    with images matched by name; an image whose score is undefined in either is left out (``n``
    counts the pairs used). ``significant``: the CI excludes 0."""
    differences = {c: [] for c in COLUMNS}
    for mine, theirs, path in zip(scores, others, paths):
        index = {name: i for i, name in enumerate(theirs["name"])}
        unmatched = sorted(set(mine["name"]) ^ set(theirs["name"]))
        if unmatched:
            raise SystemExit(f"cross_validation: {path}: other images than the run compared with ({unmatched[0]})")
        order = [index[name] for name in mine["name"]]
        for c in COLUMNS:
            differences[c].append(mine[c] - theirs[c][order])
    result = {}
    for c in COLUMNS:
        pooled = np.concatenate(differences[c])
        summary = mean_ci95(pooled[np.isfinite(pooled)])
        summary["significant"] = bool(summary["n"] > 1 and abs(summary["mean"]) > summary["ci95"])
        result[c] = summary
    return result


def agree(reference: dict, pooled: dict) -> bool | None:
    """Whether the reference mean lies inside the pooled mean ± CI (None where either is undefined)."""
    if not (math.isfinite(reference["mean"]) and math.isfinite(pooled["mean"]) and math.isfinite(pooled["ci95"])):
        return None
    return abs(reference["mean"] - pooled["mean"]) <= pooled["ci95"]


def cross_validate(record: Path, name: str, folds: range, reference: str | None, evaluation: str,
                   images: str = "", against: str | None = None, against_evaluation: str | None = None) -> dict:
    """The pooled folds, each fold's means, the reference run and the paired differences from the
    folds of ``against`` (their evaluation folder ``against_evaluation``, by default the same) for one
    evaluation folder (only the images whose name starts with ``images``)."""
    per_fold = [read_scores(record / f"{name}_fold{k}" / f"{evaluation}.csv", images) for k in folds]
    pooled = summarize(per_fold)
    result = {"evaluation": evaluation, "folds": list(folds), "n_images": sum(len(s["dsc_background"]) for s in per_fold),
              "cross_validation": pooled,
              "fold_means": [{c: float(np.nanmean(s[c])) if np.isfinite(s[c]).any() else math.nan for c in COLUMNS}
                             for s in per_fold]}
    if reference:
        ref = summarize([read_scores(record / reference / f"{evaluation}.csv", images)])
        result["reference"] = ref
        result["reference_n_images"] = ref["dsc_background"]["n"]
        result["agrees"] = {c: agree(ref[c], pooled[c]) for c in COLUMNS}
    if against:
        other_evaluation = against_evaluation or evaluation
        paths = [record / f"{against}_fold{k}" / f"{other_evaluation}.csv" for k in folds]
        result["against"] = against if other_evaluation == evaluation else f"{against} {other_evaluation}"
        result["paired"] = paired_differences(per_fold, [read_scores(p, images) for p in paths], paths)
    return result


def markdown(results: list[dict], name: str, reference: str | None) -> str:
    lines = ["| evaluation | scored on | " + " | ".join(SHOWN) + " | Pt particles found | false Pt particles |",
             "|---|---|" + "---|" * (len(SHOWN) + 2)]

    def cell(s: dict) -> str:
        undefined = f" ({s['n_undefined']} undefined)" if s.get("n_undefined") else ""
        if s.get("n_without_pt"):
            undefined = f" ({s['n_false_pt']} of {s['n_without_pt']} Pt-free images with false Pt: 0)"
        if "with_pt" in s and s["with_pt"]["n"] < s["n"]:  # scores of 0 on Pt-free images are in the mean
            undefined += f" (images with Pt: {s['with_pt']['mean']:.3f} ± {s['with_pt']['ci95']:.3f})"
        return "" if math.isnan(s["mean"]) else f"{s['mean']:.3f} ± {s['ci95']:.3f}{undefined}"

    def particles(summary: dict) -> str:
        if "pt_particles" not in summary:
            return " | not recorded | not recorded"
        p = summary["pt_particles"]
        recall = f" ({p['recall']:.3f})" if p["true"] else ""
        return f" | {p['found']} of {p['true']}{recall} | {p['false']}"

    for r in results:
        folds = r["folds"]
        lines.append(f"| {r['evaluation']} | {name}: folds {folds[0]}-{folds[-1]}, {r['n_images']} held-out images | "
                     + " | ".join(cell(r["cross_validation"][c]) for c in SHOWN) + particles(r["cross_validation"]) + " |")
        if reference:
            lines.append(f"| {r['evaluation']} | {reference}: {r['reference_n_images']} validation images | "
                         + " | ".join(cell(r["reference"][c]) + (" (outside)" if r["agrees"][c] is False else "")
                                      for c in SHOWN) + particles(r["reference"]) + " |")
        if "paired" in r:
            lines.append(f"| {r['evaluation']} | {name} - {r['against']}: paired, same images | "
                         + " | ".join(f"{d['mean']:+.4f} ± {d['ci95']:.4f}" + (" *" if d["significant"] else "")
                                      for d in (r["paired"][c] for c in SHOWN)) + " | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the folds are the runs NAME_fold{F} .. NAME_fold{F+K-1}")
    parser.add_argument("--folds", type=int, default=5, help="K, the number of folds (default 5)")
    parser.add_argument("--first-fold", type=int, default=0, help="F, the first fold (default 0)")
    parser.add_argument("--reference", help="the recipe's run on the 15 validation patches")
    parser.add_argument("--evaluations", nargs="+", default=["eval_last", "eval_last_tta", "eval", "eval_tta"],
                        help="evaluation folders of each run (default: last and best epoch, without and with TTA)")
    parser.add_argument("--images", default="", help="only images whose name starts with this (val_: the 15 patches)")
    parser.add_argument("--against", help="another recipe's folds (the same F..F+K-1): per-image paired differences")
    parser.add_argument("--against-evaluation", help="OTHER's evaluation folder paired with each of NAME's "
                        "(default: the same folder)")
    parser.add_argument("--record", type=Path, default=REPO / "docs" / "experiments",
                        help="the per-image scores scripts/experiment.py keeps (default docs/experiments)")
    args = parser.parse_args()
    if args.against_evaluation and not args.against:
        parser.error("--against-evaluation needs --against")
    if args.folds < 1 or args.first_fold < 0:
        parser.error("--folds needs at least 1 and --first-fold at least 0")
    folds = range(args.first_fold, args.first_fold + args.folds)
    results = [cross_validate(args.record, args.name, folds, args.reference, e, args.images, args.against,
                              args.against_evaluation) for e in args.evaluations]
    suffix = ("_" + args.images.strip("_") if args.images else "") + (
        f"_folds{folds[0]}-{folds[-1]}" if folds != range(parser.get_default("folds")) else "") + (
        f"_against_{args.against}" if args.against else "") + (
        f"_{args.against_evaluation}" if args.against_evaluation else "")
    summary = args.record / f"{args.name}_cv{suffix}.json"
    write_json(summary, results)
    print(markdown(results, args.name, args.reference))


if __name__ == "__main__":
    main()
