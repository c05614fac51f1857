"""Figures of an evaluation: the robust-Hausdorff curve (Fig. 4), the confusion matrix, the worst images."""

from __future__ import annotations

import os

import numpy as np

from catseg3d.io.png import pyplot, save_figure
from catseg3d.metrics.confusion import class_scores
from catseg3d.metrics.evaluation import Evaluation


def plot_rhd_curve(report: dict, path: str | os.PathLike) -> None:
    """Mean +/- SE of the percentile Hausdorff distance (nm) against the percentile, per class."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5, 3.6))
    percentiles = report["percentiles"]
    for name, by_percentile in report["rhd_nm"].items():
        stats = [by_percentile[f"{q:g}"] for q in percentiles]
        label = f"{name} (n={stats[0]['n']}" + (f", {stats[0]['n_undefined']} undefined)" if stats[0]["n_undefined"] else ")")
        axis.errorbar(percentiles, [s["mean"] for s in stats], yerr=[s["se"] for s in stats], marker="o",
                      capsize=3, label=label)
    axis.set_xlabel("percentile")
    axis.set_ylabel("robust Hausdorff distance (nm)")
    axis.set_title("Robust Hausdorff distance, mean ± SE over images")
    axis.legend()
    axis.grid(alpha=0.3)
    save_figure(figure, path)


def plot_confusion(report: dict, path: str | os.PathLike) -> None:
    """The pooled confusion matrix, each truth row normalised, with pixel counts."""
    plt = pyplot()
    counts = np.asarray(report["confusion_matrix"], dtype=np.float64)
    rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    names = report["classes"]
    figure, axis = plt.subplots(figsize=(4.2, 3.8))
    axis.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for (t, p), value in np.ndenumerate(rows):
        axis.text(p, t, f"{value:.3f}\n{int(counts[t, p]):,}", ha="center", va="center", fontsize=8,
                  color="white" if value > 0.5 else "black")
    axis.set_xticks(range(len(names)), names)
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("truth")
    axis.set_title("Confusion matrix (rows normalised)")
    save_figure(figure, path)


def error_map(truth: np.ndarray, prediction: np.ndarray, label: int) -> np.ndarray:
    """``(y, x, 3)`` RGB: true positives grey, false positives red, false negatives blue."""
    t, p = truth == label, prediction == label
    rgb = np.ones(truth.shape + (3,))
    rgb[t & p] = 0.6
    rgb[~t & p] = (0.85, 0.1, 0.1)
    rgb[t & ~p] = (0.1, 0.3, 0.9)
    return rgb


def plot_worst_images(evaluation: Evaluation, path: str | os.PathLike, count: int = 4) -> None:
    """The ``count`` kept 2D images with the lowest mean foreground DSC: image, truth, prediction
    and a false-positive/false-negative map per foreground class (like the paper's Fig. 3)."""
    plt = pyplot()
    kept = [s for s in evaluation.scores if s.name in evaluation.examples]
    mean_dsc = [np.nanmean(class_scores(s.confusion)["dsc"][1:]) for s in kept]
    worst = [kept[i] for i in np.argsort(mean_dsc)[:count]]
    foreground = evaluation.class_names[1:]
    columns = 3 + len(foreground)
    figure, axes = plt.subplots(len(worst), columns, figsize=(2.4 * columns, 2.5 * len(worst)), squeeze=False)
    labels_cmap = plt.get_cmap("viridis", len(evaluation.class_names))
    for row, score in zip(axes, worst):
        example = evaluation.examples[score.name]
        dsc = class_scores(score.confusion)["dsc"]
        panels = [(example.image, "gray", "image"), (example.truth, labels_cmap, "truth"),
                  (example.prediction, labels_cmap, "prediction")]
        panels += [(error_map(example.truth, example.prediction, c + 1), None, f"{name} DSC {dsc[c + 1]:.3f}")
                   for c, name in enumerate(foreground)]
        for axis, (array, cmap, title) in zip(row, panels):
            axis.imshow(array, cmap=cmap, interpolation="nearest",
                        **({"vmin": 0, "vmax": len(evaluation.class_names) - 1} if cmap is labels_cmap else {}))
            axis.set_title(title, fontsize=8)
            axis.axis("off")
        row[0].set_title(f"{score.name}", fontsize=8)
    figure.suptitle("Worst images (false positives red, false negatives blue)", fontsize=10)
    save_figure(figure, path)
