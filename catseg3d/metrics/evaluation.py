"""Score label maps image by image and summarise them like the paper (Table 1 and Fig. 4).

All arrays are numpy ``(y, x)`` or ``(z, y, x)``, spacings in nm in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from catseg3d.metrics.confusion import METRICS, class_scores, confusion_matrix, summarize_confusion_matrices
from catseg3d.metrics.hausdorff import (PERCENTILES, diagonal, hausdorff_status, percentile_hausdorff,
                                        summarize_hausdorff)
from catseg3d.metrics.paper import CLASS_NAMES
from catseg3d.metrics.particles import ParticleCounts, particle_counts


@dataclass
class ImageScore:
    """The scores of one image or volume.

    Attributes:
        name: identifies the image (file name, ``name:z0012`` for a slice).
        confusion: ``(C, C)`` counts, rows = truth.
        spacing: voxel size in nm, or None when only a confusion matrix is known.
        rhd: ``(C - 1, P)`` percentile Hausdorff distances in nm per foreground class, NaN where
            undefined; None when only a confusion matrix is known.
        rhd_status: per foreground class, ``defined``/``undefined``/``absent``.
        penalty: the image diagonal in nm, what an undefined distance counts in a penalised mean.
        particles: particle counts per class named in ``Evaluation.particle_classes``.
    """

    name: str
    confusion: np.ndarray
    spacing: tuple[float, ...] | None = None
    rhd: np.ndarray | None = None
    rhd_status: tuple[str, ...] = ()
    penalty: float = float("nan")
    particles: dict[str, ParticleCounts] = field(default_factory=dict)


@dataclass
class Example:
    """A 2D image kept for the figure of the worst images: ``(y, x)`` arrays."""

    image: np.ndarray
    truth: np.ndarray
    prediction: np.ndarray


@dataclass
class Evaluation:
    """Accumulates :class:`ImageScore` objects and summarises them.

    Args:
        class_names: ``C`` names; class 0 is the background, left out of the Hausdorff distances.
        percentiles: the robust-Hausdorff percentiles.
        particle_classes: classes scored as particles too (:mod:`catseg3d.metrics.particles`);
            names not in ``class_names`` are ignored.
    """

    class_names: tuple[str, ...] = CLASS_NAMES
    percentiles: tuple[float, ...] = PERCENTILES
    particle_classes: tuple[str, ...] = ("pt",)
    scores: list[ImageScore] = field(default_factory=list)
    examples: dict[str, Example] = field(default_factory=dict)

    def add(self, name: str, y_pred: np.ndarray, y: np.ndarray, spacing: Sequence[float],
            image: np.ndarray | None = None) -> ImageScore:
        """Score one label map against its truth.

        Args:
            name: image identifier.
            y_pred, y: class indices ``(y, x)`` or ``(z, y, x)``.
            spacing: nm per array axis.
            image: the intensity image ``(y, x)``, kept (2D only) for the worst-images figure.

        Raises:
            ValueError: shapes differ, a label is out of range, or spacing does not fit.
        """
        y_pred, y = np.asarray(y_pred), np.asarray(y)
        spacing = tuple(float(s) for s in spacing)
        if len(spacing) != y.ndim:
            raise ValueError(f"{name}: spacing {spacing} does not fit a {y.ndim}D label map")
        confusion = confusion_matrix(y_pred, y, len(self.class_names))
        rhd, status = [], []
        for label in range(1, len(self.class_names)):
            pred_mask, truth_mask = y_pred == label, y == label
            rhd.append(percentile_hausdorff(pred_mask, truth_mask, self.percentiles, spacing))
            status.append(hausdorff_status(pred_mask, truth_mask))
        particles = {c: particle_counts(y_pred, y, self.class_names.index(c))
                     for c in self.particle_classes if c in self.class_names}
        score = ImageScore(name, confusion, spacing, np.stack(rhd), tuple(status), diagonal(y.shape, spacing),
                           particles)
        self.scores.append(score)
        if image is not None and y.ndim == 2:
            self.examples[name] = Example(np.asarray(image), y, y_pred)
        return score

    def add_slices(self, name: str, y_pred: np.ndarray, y: np.ndarray, spacing: Sequence[float],
                   image: np.ndarray | None = None) -> None:
        """Score each slice along axis 0 of a ``(z, y, x)`` volume as its own image (``name:zNNNN``)."""
        if y.ndim != 3:
            raise ValueError(f"{name}: per-slice scoring needs a 3D volume, got shape {y.shape}")
        for z in range(y.shape[0]):
            self.add(f"{name}:z{z:04d}", y_pred[z], y[z], spacing[1:], None if image is None else image[z])

    def add_confusion(self, name: str, confusion: np.ndarray) -> ImageScore:
        """Record an image known only by its ``(C, C)`` confusion matrix (no distances)."""
        confusion = np.asarray(confusion)
        if confusion.shape != (len(self.class_names),) * 2:
            raise ValueError(f"{name}: expected a {len(self.class_names)}x{len(self.class_names)} "
                             f"confusion matrix, got {confusion.shape}")
        score = ImageScore(name, confusion)
        self.scores.append(score)
        return score

    def per_image(self) -> list[dict[str, object]]:
        """One flat row per image: DSC/precision/recall per class, RHD per class and percentile."""
        rows = []
        for score in self.scores:
            row: dict[str, object] = {"name": score.name}
            values = class_scores(score.confusion)
            for metric in METRICS:
                row.update({f"{metric}_{c}": float(values[metric][i]) for i, c in enumerate(self.class_names)})
            if score.rhd is not None:
                for i, c in enumerate(self.class_names[1:]):
                    row[f"rhd_status_{c}"] = score.rhd_status[i]
                    row.update({f"rhd{q:g}_nm_{c}": float(score.rhd[i, j]) for j, q in enumerate(self.percentiles)})
            for c, counts in score.particles.items():
                row.update({f"particles_{key}_{c}": getattr(counts, key) for key in ("true", "found", "false")})
            rows.append(row)
        return rows

    def report(self) -> dict:
        """The summary written to ``report.json`` (see :mod:`catseg3d.metrics.report`)."""
        if not self.scores:
            raise ValueError("nothing to summarise: no images were scored")
        summary = summarize_confusion_matrices(np.stack([s.confusion for s in self.scores]), self.class_names)
        spacings = sorted({s.spacing for s in self.scores if s.spacing is not None})
        report = {
            "classes": list(self.class_names),
            "n_images": len(self.scores),
            # one spacing for all images, a list of them if they differ, None for confusion matrices only
            "spacing_nm": (list(spacings[0]) if len(spacings) == 1 else [list(s) for s in spacings]) if spacings else None,
            "metrics": summary["mean"],
            "pooled": summary["pooled"],
            "confusion_matrix": np.stack([s.confusion for s in self.scores]).sum(0).tolist(),
        }
        with_distances = [s for s in self.scores if s.rhd is not None]
        if with_distances:
            report["percentiles"] = [float(q) for q in self.percentiles]
            report["rhd_nm"] = {
                c: summarize_hausdorff(np.stack([s.rhd[i] for s in with_distances]),
                                       [s.rhd_status[i] for s in with_distances],
                                       [s.penalty for s in with_distances], self.percentiles)
                for i, c in enumerate(self.class_names[1:])
            }
        counted = [c for c in self.particle_classes if c in self.class_names]
        if counted and all(s.particles for s in self.scores):
            report["particles"] = {c: particle_summary([s.particles[c] for s in self.scores]) for c in counted}
        return report


def particle_summary(counts: Sequence[ParticleCounts]) -> dict[str, float | int]:
    """Particle counts summed over images: ``true``, ``found``, ``predicted``, ``false``, and
    ``recall`` = found / true (NaN without true particles)."""
    total = {key: int(sum(getattr(c, key) for c in counts)) for key in ("true", "found", "predicted", "false")}
    return {**total, "recall": total["found"] / total["true"] if total["true"] else float("nan")}
