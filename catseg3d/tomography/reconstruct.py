"""SIRT and MLEM reconstruction of a single-axis tilt series (geometry: :mod:`.projector`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm import tqdm

from catseg3d.tomography.projector import parallel_projection_matrix

METHODS = ("sirt", "mlem")


def reconstruct_tilt_series(projections: np.ndarray, angles_deg: Sequence[float], method: str = "sirt",
                            iterations: int = 50, thickness: int | None = None, tilt_axis: str = "y",
                            progress: bool = False) -> np.ndarray:
    """Reconstruct a volume from its projections.

    Args:
        projections: ``(n_angles, ny, nx)`` tilt series.
        angles_deg: the tilt angle of each projection, in degrees.
        method: ``sirt`` (simultaneous iterative reconstruction, unconstrained, so values can go
            negative) or ``mlem`` (maximum-likelihood expectation maximisation for Poisson
            counts, non-negative; negative input counts are set to 0), the paper's algorithm.
        iterations: number of iterations.
        thickness: ``nz``, the volume's extent along the beam, in pixels (default: the projection
            width across the tilt axis).
        tilt_axis: ``y`` (the projections' rows, :mod:`.projector`'s convention) or ``x``; the
            volume is ``(nz, ny, nx)`` either way.
        progress: show a progress bar over iterations.

    Returns:
        float32 ``(nz, ny, nx)`` volume in projection units per pixel (a projection is the sum
        of the voxels along the beam).

    Raises:
        ValueError: an unknown method, fewer than two angles, angles that do not match the
            projections, or iterations or thickness under 1.
    """
    if tilt_axis not in ("y", "x"):
        raise ValueError(f"tilt_axis must be 'y' or 'x', got {tilt_axis!r}")
    if iterations < 1 or (thickness is not None and thickness < 1):
        raise ValueError(f"iterations and thickness must be positive, got {iterations} and {thickness}")
    if tilt_axis == "x":  # solve with the tilt axis along y, then swap back
        volume = reconstruct_tilt_series(np.asarray(projections).transpose(0, 2, 1), angles_deg, method,
                                         iterations, thickness, "y", progress)
        return np.ascontiguousarray(volume.transpose(0, 2, 1))
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    projections = np.asarray(projections, dtype=np.float32)
    if projections.ndim != 3 or projections.shape[0] != len(angles_deg) or len(angles_deg) < 2:
        raise ValueError(f"{len(angles_deg)} angles for projections of shape {projections.shape}")
    n_angles, ny, nx = projections.shape
    nz = nx if thickness is None else int(thickness)
    matrix = parallel_projection_matrix((nz, nx), angles_deg)
    sinograms = np.ascontiguousarray(projections.transpose(0, 2, 1).reshape(n_angles * nx, ny))
    transpose = matrix.T.tocsr()
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    col_sums = np.asarray(matrix.sum(axis=0)).ravel()
    inv_rows = np.divide(1.0, row_sums, out=np.zeros_like(row_sums), where=row_sums > 0)[:, None]
    inv_cols = np.divide(1.0, col_sums, out=np.zeros_like(col_sums), where=col_sums > 0)[:, None]
    if method == "sirt":
        volume = np.zeros((nz * nx, ny), dtype=np.float32)
    else:
        sinograms = np.maximum(sinograms, 0)
        volume = np.ones((nz * nx, ny), dtype=np.float32)
    for _ in tqdm(range(iterations), desc=method.upper(), unit="it", disable=not progress):
        estimate = matrix @ volume
        if method == "sirt":
            volume += inv_cols * (transpose @ (inv_rows * (sinograms - estimate)))
        else:
            ratio = np.divide(sinograms, estimate, out=np.zeros_like(estimate), where=estimate > 0)
            volume *= inv_cols * (transpose @ ratio)
    return np.ascontiguousarray(volume.reshape(nz, nx, ny).transpose(0, 2, 1)).astype(np.float32)
