"""Robust (percentile) Hausdorff distance in physical units, safe for empty masks and large surfaces.

The surface distances come from MONAI (``monai.metrics.utils.get_edge_surface_distance``: mask
edges, then each edge voxel's exact Euclidean distance to the other mask's edge, scaled by
``spacing``). Percentiles are taken here, in numpy, for three reasons (MONAI 1.6.1):

* ``compute_hausdorff_distance(percentile=0)`` returns the maximum (it tests ``if not percentile``);
* ``torch.quantile`` fails beyond 2**24 values, which the surface of a large 3D volume exceeds;
* one pair of surface-distance computations serves every percentile.

The percentile Hausdorff distance at ``q`` is ``max(P_q(d(pred -> truth)), P_q(d(truth -> pred)))``
with linear interpolation, the same definition as MONAI's (``directed=False``).

An image where exactly one of prediction and truth is empty has no defined distance (MONAI gives
inf or NaN, and its mean then silently drops NaN, MONAI issue 9095, so a model that predicts no Pt
at all would score "0 nm"). Here such an image is *undefined*: it is counted and reported, left out
of the mean, and a penalised mean counts it at the image diagonal, so that it can never improve the
figure. An image where both are empty is *absent* and left out, like a 0/0 DSC.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch
from monai.metrics.utils import get_edge_surface_distance

PERCENTILES = (50, 75, 90, 95, 99, 100)
DEFINED, UNDEFINED, ABSENT = "defined", "undefined", "absent"


def hausdorff_status(y_pred: np.ndarray, y: np.ndarray) -> str:
    """``"defined"`` if both masks have foreground, ``"absent"`` if neither, else ``"undefined"``."""
    has_pred, has_truth = bool(np.any(y_pred)), bool(np.any(y))
    if has_pred and has_truth:
        return DEFINED
    return ABSENT if not (has_pred or has_truth) else UNDEFINED


def surface_distances(y_pred: np.ndarray, y: np.ndarray,
                      spacing: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each edge voxel of ``y_pred`` to the edge of ``y``, and the reverse.

    Args:
        y_pred: binary mask ``(y, x)`` or ``(z, y, x)``.
        y: binary mask of the same shape.
        spacing: voxel size per array axis (e.g. nm); None means 1.

    Returns:
        ``(pred_to_truth, truth_to_pred)``, 1D float64 arrays in the units of ``spacing``.

    Raises:
        ValueError: shapes differ, or either mask is empty (see :func:`hausdorff_status`).
    """
    y_pred, y = np.asarray(y_pred, dtype=bool), np.asarray(y, dtype=bool)
    if y_pred.shape != y.shape:
        raise ValueError(f"ground truth has different shape ({y.shape}) from prediction ({y_pred.shape})")
    if hausdorff_status(y_pred, y) != DEFINED:
        raise ValueError("surface distances need foreground in both masks")
    spacing = None if spacing is None else [float(s) for s in spacing]
    with warnings.catch_warnings():  # MONAI passes its own deprecated argument to get_mask_edges
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy", category=FutureWarning)
        _, distances, _ = get_edge_surface_distance(torch.from_numpy(y_pred), torch.from_numpy(y),
                                                    spacing=spacing, symmetric=True)
    return tuple(d.numpy().astype(np.float64) for d in distances)


def percentile_hausdorff(y_pred: np.ndarray, y: np.ndarray, percentiles: Sequence[float] = PERCENTILES,
                         spacing: Sequence[float] | None = None) -> np.ndarray:
    """Percentile Hausdorff distances of two binary masks, in the units of ``spacing``.

    Args:
        y_pred: binary mask ``(y, x)`` or ``(z, y, x)``.
        y: binary mask of the same shape.
        percentiles: values in ``[0, 100]``; 100 is the classical Hausdorff distance, 0 the smallest
            surface distance.
        spacing: voxel size per array axis (nm for catseg3d volumes); None means 1.

    Returns:
        ``(len(percentiles),)`` float64; all NaN unless both masks have foreground.

    Raises:
        ValueError: a percentile outside ``[0, 100]`` or shapes that differ.
    """
    percentiles = np.asarray(percentiles, dtype=np.float64)
    if np.any((percentiles < 0) | (percentiles > 100)):
        raise ValueError(f"percentiles must lie in [0, 100], got {percentiles.tolist()}")
    if np.shape(y_pred) != np.shape(y):
        raise ValueError(f"ground truth has different shape ({np.shape(y)}) from prediction ({np.shape(y_pred)})")
    if hausdorff_status(y_pred, y) != DEFINED:
        return np.full(percentiles.shape, np.nan)
    forward, backward = surface_distances(y_pred, y, spacing)
    return np.maximum(np.percentile(forward, percentiles), np.percentile(backward, percentiles))


def diagonal(shape: Sequence[int], spacing: Sequence[float] | None = None) -> float:
    """Length of the image diagonal in the units of ``spacing``: the penalty for an undefined image."""
    spacing = np.ones(len(shape)) if spacing is None else np.asarray(spacing, dtype=np.float64)
    return float(np.linalg.norm((np.asarray(shape) - 1) * spacing))


def summarize_hausdorff(values: np.ndarray, status: Sequence[str], penalty: Sequence[float],
                        percentiles: Sequence[float] = PERCENTILES) -> dict[str, dict[str, float | int]]:
    """Mean +/- standard error over images per percentile, as in the paper's Fig. 4.

    Args:
        values: ``(n_images, len(percentiles))`` from :func:`percentile_hausdorff`.
        status: per image, from :func:`hausdorff_status`.
        penalty: per image, the distance an undefined image counts in ``mean_penalized``
            (:func:`diagonal`).
        percentiles: the column labels.

    Returns:
        ``{"90": {"mean", "se", "n", "n_undefined", "mean_penalized"}, ...}``: ``mean`` and ``se``
        (SD with ddof=1 / sqrt(n)) over the ``n`` defined images; ``n_undefined`` images with
        exactly one empty mask; ``mean_penalized`` over defined and undefined images, the latter at
        their ``penalty``.
    """
    values = np.asarray(values, dtype=np.float64).reshape(len(status), len(percentiles))
    status = np.asarray(status)
    defined, undefined = status == DEFINED, status == UNDEFINED
    summary = {}
    for column, q in enumerate(percentiles):
        good = values[defined, column]
        n = int(good.size)
        penalized = np.concatenate([good, np.asarray(penalty, dtype=np.float64)[undefined]])
        summary[f"{q:g}"] = {
            "mean": float(good.mean()) if n else float("nan"),
            "se": float(good.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
            "n": n,
            "n_undefined": int(undefined.sum()),
            "mean_penalized": float(penalized.mean()) if penalized.size else float("nan"),
        }
    return summary
