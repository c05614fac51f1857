"""Figures of a quantified label volume: orthoslices with the label overlay, Pt size distribution."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from catseg3d.io.png import pyplot, save_figure

OVERLAY = {1: (0.6, 0.6, 0.6), 2: (0.9, 0.1, 0.1)}  # alumina grey, Pt red, as in the paper's figures


def overlay(image: np.ndarray | None, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``(rows, cols, 3)`` RGB: the grey image (or black) with alumina grey and Pt red on top."""
    if image is None:
        base = np.zeros(labels.shape)
    else:
        low, high = np.percentile(image, (1, 99))
        base = np.clip((image - low) / max(high - low, 1e-12), 0, 1)
    rgb = np.repeat(base[..., None], 3, axis=-1)
    for label, colour in OVERLAY.items():
        mask = labels == label
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * np.asarray(colour)
    return rgb


def plot_orthoslices(labels: np.ndarray, spacing: Sequence[float], path: str | os.PathLike,
                     image: np.ndarray | None = None, point: Sequence[int] | None = None) -> None:
    """XY, XZ and YZ slices through ``point`` (voxel indices ``(z, y, x)``, default the centre),
    drawn with their physical aspect ratio (anisotropic spacing shows true shapes)."""
    plt = pyplot()
    z, y, x = (np.asarray(labels.shape) // 2) if point is None else point
    dz, dy, dx = spacing
    views = [("XY (z = %d)" % z, np.s_[z, :, :], dy / dx), ("XZ (y = %d)" % y, np.s_[:, y, :], dz / dx),
             ("YZ (x = %d)" % x, np.s_[:, :, x], dz / dy)]
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    for axis, (title, view, aspect) in zip(axes, views):
        axis.imshow(overlay(None if image is None else image[view], labels[view]), aspect=aspect,
                    interpolation="nearest")
        axis.set_title(title)
        axis.axis("off")
    figure.suptitle("Orthoslices: alumina grey, Pt red")
    save_figure(figure, path)


def plot_diameters(diameters_nm: Sequence[float], path: str | os.PathLike, kind: str) -> None:
    """Histogram of particle diameters in nm."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5, 3.5))
    axis.hist(diameters_nm, bins=min(30, max(5, len(diameters_nm) // 3)), color=OVERLAY[2], edgecolor="black")
    axis.set_xlabel(f"{kind} diameter (nm)")
    axis.set_ylabel("Pt particles")
    axis.set_title(f"Pt size distribution (n = {len(diameters_nm)})")
    save_figure(figure, path)
