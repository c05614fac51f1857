"""Figures of a quantified label volume: orthoslices with the label overlay, a 3D view, Pt size distribution."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from catseg3d.io.png import pyplot, save_figure
from catseg3d.quantify.meshes import class_mesh
from catseg3d.quantify.morphology import fill_holes

OVERLAY = {1: (0.6, 0.6, 0.6), 2: (0.9, 0.1, 0.1)}  # alumina grey, Pt red, as in the paper's figures
RENDER_BLOCKS = 96  # blocks along the longest axis of the label volume drawn in 3D
LIGHT = np.array([-0.4, -0.5, 0.77]) / np.linalg.norm([-0.4, -0.5, 0.77])  # (x, y, z) towards the light


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
    views = [(f"XY (z = {z:d})", np.s_[z, :, :], dy / dx), (f"XZ (y = {y:d})", np.s_[:, y, :], dz / dx),
             (f"YZ (x = {x:d})", np.s_[:, :, x], dz / dy)]
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


def block_reduce(mask: np.ndarray, factor: int, least: float) -> np.ndarray:
    """``(z, y, x)`` boolean of ``factor``-voxel blocks (the last partial block kept): True where
    more than ``least`` of a block's voxels are True (``least`` 0: any)."""
    padded = np.pad(mask, [(0, -n % factor) for n in mask.shape])
    shape = [n // factor for n in padded.shape]
    blocks = padded.reshape(shape[0], factor, shape[1], factor, shape[2], factor)
    return blocks.mean(axis=(1, 3, 5)) > least if least else blocks.any(axis=(1, 3, 5))


def plot_render(labels: np.ndarray, spacing: Sequence[float], path: str | os.PathLike,
                blocks: int = RENDER_BLOCKS) -> int:
    """Off-screen 3D view of the alumina (grey, enclosed pores filled) and Pt (red) surfaces in nm.

    The ``(z, y, x)`` label volume is drawn at a reduced resolution (the figure says by how much):
    in blocks of ``factor`` voxels per axis, at most ``blocks`` along the longest axis; a block is
    alumina when more than half of it is, Pt when any of it is (small particles stay visible).
    Surfaces are :func:`catseg3d.quantify.class_mesh` of the blocks, shaded and drawn by matplotlib
    (off-screen, no OpenGL).

    Returns:
        ``factor``.
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    factor = max(1, -(-max(labels.shape) // blocks))
    reduced_spacing = np.asarray(spacing, dtype=np.float64) * factor
    triangles, colours = [], []
    for label, least in ((1, 0.5), (2, 0.0)):
        mask = block_reduce(labels == label, factor, least)
        if label == 1:
            mask = fill_holes(mask)
        if mask.any():
            vertices, faces = class_mesh(mask, reduced_spacing)  # (x, y, z) nm of the block centres
            corners = vertices[faces] + (factor - 1) / 2 * np.asarray(spacing)[::-1]  # of the voxels' centres
            normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
            light = np.abs(normals @ LIGHT)  # two-sided Lambert shading
            triangles.append(corners)
            colours.append(np.asarray(OVERLAY[label]) * (0.35 + 0.65 * light)[:, None])
    plt = pyplot()
    figure = plt.figure(figsize=(7, 6))
    axis = figure.add_subplot(projection="3d")
    if triangles:  # one collection, so that matplotlib sorts all triangles by depth together
        axis.add_collection3d(Poly3DCollection(np.concatenate(triangles), facecolors=np.concatenate(colours),
                                               linewidths=0, antialiased=False))
    extent = np.asarray(labels.shape[::-1]) * np.asarray(spacing)[::-1]
    axis.set(xlim=(0, extent[0]), ylim=(0, extent[1]), zlim=(0, extent[2]),
             xlabel="x (nm)", ylabel="y (nm)", zlabel="z (nm)")
    axis.set_box_aspect(extent)
    axis.set_title("Alumina (grey) and Pt (red)" + (f", drawn in blocks of {factor}^3 voxels" if factor > 1 else ""))
    save_figure(figure, path)
    return factor
