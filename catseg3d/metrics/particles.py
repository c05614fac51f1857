"""Particle-level detection scores: how many true particles a label map finds, how many it invents.

A particle is a connected component of one class, with full connectivity (8 neighbours in 2D, 26 in
3D). A true particle is found when at least one predicted voxel of the class overlaps it; a
predicted particle is false when none of its voxels overlaps a true one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParticleCounts:
    """Particle counts of one image or volume for one class.

    Attributes:
        true: connected components of the class in the truth.
        found: true components that overlap the prediction.
        predicted: connected components of the class in the prediction.
        false: predicted components that overlap no true voxel of the class.
    """

    true: int
    found: int
    predicted: int
    false: int


def particle_counts(y_pred: np.ndarray, y: np.ndarray, label: int) -> ParticleCounts:
    """Particle counts of class ``label`` in label maps ``y_pred`` and ``y`` (equal shapes, any
    dimensionality: ``(y, x)`` or ``(z, y, x)``).

    Raises:
        ValueError: the shapes differ.
    """
    from scipy import ndimage

    y_pred, y = np.asarray(y_pred), np.asarray(y)
    if y_pred.shape != y.shape:
        raise ValueError(f"prediction shape {y_pred.shape} differs from truth shape {y.shape}")
    pred_mask, true_mask = y_pred == label, y == label
    structure = np.ones((3,) * y.ndim, dtype=bool)
    true_parts, n_true = ndimage.label(true_mask, structure)
    pred_parts, n_pred = ndimage.label(pred_mask, structure)
    found = np.unique(true_parts[pred_mask & (true_parts > 0)]).size
    matched = np.unique(pred_parts[true_mask & (pred_parts > 0)]).size
    return ParticleCounts(true=int(n_true), found=int(found), predicted=int(n_pred), false=int(n_pred - matched))
