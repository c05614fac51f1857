"""Write an evaluation as files: report.json, report.md, per_image.csv and figures.

``report.json``::

    {"classes": ["background", "alumina", "pt"], "n_images": 15, "spacing_nm": [0.12, 0.12],
     "metrics": {"dsc": {"pt": {"mean": .., "ci95": .., "n": ..}, ..}, "precision": {..}, "recall": {..}},
     "pooled": {"dsc": {"pt": ..}, ..}, "confusion_matrix": [[..]],
     "percentiles": [50.0, ..],
     "rhd_nm": {"pt": {"90": {"mean": .., "se": .., "n": .., "n_undefined": .., "mean_penalized": ..}}}}

Undefined statistics (no image to average) are ``null``. Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from catseg3d.io.atomic import write_text
from catseg3d.io.jsonfile import write_json
from catseg3d.metrics.confusion import METRICS
from catseg3d.metrics.evaluation import Evaluation
from catseg3d.metrics.figures import plot_confusion, plot_rhd_curve, plot_worst_images
from catseg3d.metrics.paper import GENC2022_TABLE_1


def markdown(report: dict, paper: dict | None = GENC2022_TABLE_1) -> str:
    """Table 1 layout (metric x class, mean ± 95 % CI) with the paper's values, then the RHD table."""
    classes = report["classes"]
    spacing = f", spacing {report['spacing_nm']} nm" if report["spacing_nm"] else ""
    lines = [f"# Evaluation: {report['n_images']} images{spacing}", "",
             "## Table 1: mean ± 95 % CI over images (n where a class is absent from both truth and "
             "prediction is smaller)", "",
             "| metric | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for metric in METRICS:
        cells = []
        for name in classes:
            s = report["metrics"][metric][name]
            cell = f"{s['mean']:.3f} ± {s['ci95']:.3f}" + (f" (n={s['n']})" if s["n"] != report["n_images"] else "")
            if paper and name in paper.get(metric, {}):
                cell += f" [paper {paper[metric][name][0]:.3f} ± {paper[metric][name][1]:.3f}]"
            cells.append(cell)
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += ["", "Pooled (micro) DSC: " + ", ".join(f"{c} {report['pooled']['dsc'][c]:.3f}" for c in classes)]
    if "rhd_nm" in report:
        names = list(report["rhd_nm"])
        lines += ["", "## Robust Hausdorff distance (nm), mean ± SE over images (Fig. 4)", "",
                  "| percentile | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for q in report["percentiles"]:
            cells = []
            for name in names:
                s = report["rhd_nm"][name][f"{q:g}"]
                cells.append(f"{s['mean']:.3f} ± {s['se']:.3f} (n={s['n']}"
                             + (f", {s['n_undefined']} undefined, penalised mean {s['mean_penalized']:.3f}"
                                if s["n_undefined"] else "") + ")")
            lines.append(f"| {q:g} | " + " | ".join(cells) + " |")
        lines += ["", "Undefined: the class is present in exactly one of truth and prediction; such images "
                  "are counted, left out of the mean, and counted at the image diagonal in the penalised "
                  "mean. The paper gives these distances only as a figure (Fig. 4).",
                  "", "![robust Hausdorff curve](rhd_curve.png)"]
    lines += ["", "![confusion matrix](confusion.png)"]
    return "\n".join(lines) + "\n"


def per_image_csv(evaluation: Evaluation) -> str:
    rows = evaluation.per_image()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_report(evaluation: Evaluation, out_dir: str | os.PathLike,
                 paper: dict | None = GENC2022_TABLE_1) -> dict:
    """Write ``report.json``, ``report.md``, ``per_image.csv``, ``confusion.png`` and, where the
    data allows, ``rhd_curve.png`` and ``worst_images.png`` into ``out_dir``.

    Returns:
        The report dictionary.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = evaluation.report()
    write_text(out / "per_image.csv", per_image_csv(evaluation))
    plot_confusion(report, out / "confusion.png")
    if "rhd_nm" in report:
        plot_rhd_curve(report, out / "rhd_curve.png")
    if evaluation.examples:
        plot_worst_images(evaluation, out / "worst_images.png")
    text = markdown(report, paper)
    if evaluation.examples:
        text += "\n![worst images](worst_images.png)\n"
    write_text(out / "report.md", text)
    write_json(out / "report.json", report)
    return report
