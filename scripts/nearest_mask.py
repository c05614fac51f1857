"""Score the nearest-training-mask baseline (no model) on the paper's split and on the grouped folds.

For every validation patch the mask of the most similar training patch (normalised
cross-correlation) is copied (:mod:`catseg3d.metrics.nearest_mask`). Its per-image scores go into
the tracked record as the run ``NAME`` (the authors' 45 -> 15 split, ``datalist.json``) and the runs
``NAME_fold{k}`` (``datalist_fold{k}.json``, each region held out whole), evaluation ``eval``, the
layout ``scripts/cross_validation.py`` pools and pairs:

    catseg3d prepare-genc2022 ../shared/data/genc2022 data/genc2022
    python scripts/nearest_mask.py
    python scripts/cross_validation.py nearest_mask --reference nearest_mask --evaluations eval
    python scripts/cross_validation.py best64_grouped --against nearest_mask --against-evaluation eval \\
        --evaluations eval_last

Prints one Markdown row per split (means over its validation patches).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from catseg3d.io.atomic import write_text
from catseg3d.io.datalist import DATALIST_NAME, fold_datalist_name
from catseg3d.metrics.nearest_mask import score_nearest_mask
from catseg3d.metrics.paper import CLASS_NAMES
from catseg3d.metrics.report import per_image_csv

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="nearest_mask", help="run name in the record (default nearest_mask)")
    parser.add_argument("--dataset_dir", type=Path, default=REPO / "data" / "genc2022",
                        help="the prepared dataset (default data/genc2022)")
    parser.add_argument("--folds", type=int, default=5, help="number of fold datalists (default 5)")
    parser.add_argument("--record", type=Path, default=REPO / "docs" / "experiments",
                        help="where the per-image scores go (default docs/experiments)")
    args = parser.parse_args()
    splits = [(args.name, DATALIST_NAME)] + [(f"{args.name}_fold{k}", fold_datalist_name(k)) for k in range(args.folds)]
    print("| run | datalist | patches | DSC bg / Al2O3 / Pt | Pt precision | Pt recall | RHD90 Al2O3 / Pt (nm) "
          "| Pt particles found | false Pt particles |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run, datalist in splits:
        evaluation, _ = score_nearest_mask(args.dataset_dir, datalist)
        (args.record / run).mkdir(parents=True, exist_ok=True)
        write_text(args.record / run / "eval.csv", per_image_csv(evaluation))
        report = evaluation.report()
        metrics, rhd, particles = report["metrics"], report["rhd_nm"], report["particles"]["pt"]
        dsc = " / ".join(f"{metrics['dsc'][c]['mean']:.3f}" for c in CLASS_NAMES)
        print(f"| {run} | {datalist} | {report['n_images']} | {dsc} "
              f"| {metrics['precision']['pt']['mean']:.3f} | {metrics['recall']['pt']['mean']:.3f} "
              f"| {rhd['alumina']['90']['mean']:.2f} / {rhd['pt']['90']['mean']:.2f} "
              f"| {particles['found']} of {particles['true']} | {particles['false']} |")


if __name__ == "__main__":
    main()
