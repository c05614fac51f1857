"""Confusion-matrix statistics per image and their mean +/- 95 % CI over images (the paper's Table 1).

Conventions: a confusion matrix ``cm`` is ``(C, C)`` with rows = ground-truth class and columns =
predicted class (the layout of the authors' CSV files). A score that is 0/0 for a class in an image
(e.g. no Pt in truth or prediction) is NaN and that image is left out of the class's mean.
"""

from __future__ import annotations

import numpy as np

METRICS = ("dsc", "precision", "recall")
CHUNK = 1 << 24  # elements counted at a time


def confusion_matrix(y_pred: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """Count pixel/voxel pairs: ``cm[t, p]`` = number of elements with truth ``t``, prediction ``p``.

    Args:
        y_pred: predicted class indices, any shape.
        y: ground-truth class indices, the same shape.
        num_classes: ``C``.

    Returns:
        ``(C, C)`` int64 counts.

    Raises:
        ValueError: shapes differ or a label lies outside ``[0, C)``.
    """
    y_pred, y = np.asarray(y_pred), np.asarray(y)
    if y_pred.shape != y.shape:
        raise ValueError(f"ground truth has different shape ({y.shape}) from prediction ({y_pred.shape})")
    counts = np.zeros(num_classes * num_classes, dtype=np.int64)
    flat_pred, flat_truth = y_pred.reshape(-1), y.reshape(-1)
    for start in range(0, flat_truth.size, CHUNK):  # bounded temporaries for whole tomograms
        truth, pred = flat_truth[start:start + CHUNK], flat_pred[start:start + CHUNK]
        for name, labels in (("prediction", pred), ("ground truth", truth)):
            if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
                raise ValueError(f"{name} labels must be whole class indices, got fractions")
            if labels.min() < 0 or labels.max() >= num_classes:
                raise ValueError(f"{name} labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
        counts += np.bincount(truth.astype(np.int64) * num_classes + pred.astype(np.int64),
                              minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class DSC, precision and recall of one ``(C, C)`` confusion matrix.

    Returns:
        ``{"dsc": (C,), "precision": (C,), "recall": (C,)}`` float64 arrays, NaN where 0/0.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"dsc": 2 * tp / (predicted + actual), "precision": tp / predicted, "recall": tp / actual}


def mean_ci95(values: np.ndarray) -> dict[str, float | int]:
    """Mean, 95 % CI half-width ``1.96 * SD / sqrt(n)`` (SD with ddof=1) and ``n`` of the finite values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = int(values.size)
    mean = float(values.mean()) if n else float("nan")
    ci95 = float(1.96 * values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "ci95": ci95, "n": n}


def summarize_confusion_matrices(matrices: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """Table 1 statistics of a stack of per-image confusion matrices.

    Args:
        matrices: ``(n_images, C, C)``.
        class_names: ``C`` names.

    Returns:
        ``{"per_image": {metric: (n_images, C)}, "mean": {metric: {class: {"mean", "ci95", "n"}}},
        "pooled": {metric: {class: value}}}``; "pooled" scores the summed matrix (micro average).
    """
    matrices = np.asarray(matrices)
    per_image = {m: np.stack([class_scores(cm)[m] for cm in matrices]) for m in METRICS}
    pooled = class_scores(matrices.sum(axis=0))
    return {
        "per_image": per_image,
        "mean": {m: {c: mean_ci95(per_image[m][:, i]) for i, c in enumerate(class_names)} for m in METRICS},
        "pooled": {m: {c: float(pooled[m][i]) for i, c in enumerate(class_names)} for m in METRICS},
    }
