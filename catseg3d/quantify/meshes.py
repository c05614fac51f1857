"""Surface meshes of label classes in nm coordinates, written with meshio for ParaView."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import meshio
import numpy as np
from skimage import measure

from catseg3d.io.atomic import atomic_path
from catseg3d.quantify.support import LEVEL, smoothed_mask


def class_mesh(mask: np.ndarray, spacing: Sequence[float], smooth: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of a 3D binary mask.

    Args:
        mask: ``(z, y, x)`` boolean.
        spacing: nm per axis.
        smooth: mesh the mask smoothed with a one-voxel Gaussian (no staircase) instead of the raw
            mask; smoothing rounds corners and shrinks small objects slightly (a sphere of 8 voxels'
            radius loses about 7 % of its volume), and objects of one or two voxels stay as small blobs.

    Returns:
        ``(vertices, faces)``: ``(V, 3)`` float coordinates in nm in ``(x, y, z)`` order (what
        ParaView shows as X, Y, Z), the voxel centre ``[0, 0, 0]`` at the origin; ``(F, 3)`` int.

    Raises:
        ValueError: an empty or non-3D mask.
    """
    if mask.ndim != 3 or not mask.any():
        raise ValueError(f"need a non-empty 3D mask, got shape {mask.shape} with {int(mask.sum())} voxels")
    volume = smoothed_mask(mask, "constant") if smooth else np.pad(mask.astype(np.float32), 2)
    vertices, faces, _, _ = measure.marching_cubes(volume, level=LEVEL, spacing=tuple(float(s) for s in spacing))
    vertices -= 2 * np.asarray(spacing, dtype=vertices.dtype)  # undo the padding
    return vertices[:, ::-1].copy(), faces


def write_mesh(vertices: np.ndarray, faces: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a triangle mesh (``.ply``, ``.stl``, ``.vtk``, ``.vtu``, ``.obj`` ...) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        meshio.write(tmp, meshio.Mesh(vertices, [("triangle", faces)]), file_format=meshio_format(path))
    return path


def meshio_format(path: Path) -> str:
    """meshio's format name for a file suffix (``.ply`` -> ``ply``, ``.stl`` -> ``stl``)."""
    suffix = path.suffix.lower()
    formats = {".ply": "ply", ".stl": "stl", ".vtk": "vtk", ".vtu": "vtu", ".obj": "obj"}
    if suffix not in formats:
        raise ValueError(f"{path}: unsupported mesh format (use one of {', '.join(formats)})")
    return formats[suffix]
