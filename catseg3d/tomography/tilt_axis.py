"""Which in-plane direction of a tilt series is the tilt axis: a consistency check of the projections.

For a rotation about ``y``, every point of a slice ``y = const`` moves on a sinusoid across the
projections, ``u(theta) = u0 + x cos(theta) + z sin(theta)``, and so does the slice's centre of mass
(the first-order Helgason-Ludwig condition of parallel-beam projections). The centroid along ``x``
of each projection line ``y`` therefore fits ``a + b cos(theta) + c sin(theta)`` to within noise,
while the centroids of the lines across the true axis do not. :func:`tilt_axis_misfit` measures that
fit for both candidate axes, in pixels; the axis with the smaller misfit is the likelier one.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

AXES = ("y", "x")


def tilt_axis_misfit(projections: np.ndarray, angles_deg: Sequence[float], background_percentile: float = 5.0,
                     min_line_mass: float = 0.05) -> dict[str, float]:
    """Root-mean-square distance (pixels) of the projection lines' centroids from their best
    sinusoid over the tilt angles, for a tilt axis along ``y`` and along ``x``.

    Args:
        projections: ``(n_angles, ny, nx)`` tilt series, intensity growing with the projected mass
            (HAADF, or bright-field inverted).
        angles_deg: the tilt angle of each projection, in degrees.
        background_percentile: each projection's level at this percentile is taken as its
            background and subtracted (negative values then count as 0).
        min_line_mass: lines whose mean mass over the tilts is under this fraction of the largest
            are left out (empty lines have no centroid).

    Returns:
        ``{"y": misfit, "x": misfit}`` in pixels, each the RMS residual of the line centroids (across
        the candidate axis) from each line's ``a + b cos + c sin``, fitted and averaged with the
        line's mass at each tilt as weight (a line empty at some tilts counts only where it is not).

    Raises:
        ValueError: projections that are not 3D, angles that do not match them, or fewer than four
            angles (three parameters are fitted).
    """
    projections = np.asarray(projections)
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    if projections.ndim != 3 or projections.shape[0] != len(angles) or len(angles) < 4:
        raise ValueError(f"need at least 4 angles, one per projection of a (n, ny, nx) series; got {len(angles)} "
                         f"angles for shape {projections.shape}")
    n, ny, nx = projections.shape
    design = np.stack([np.ones_like(angles), np.cos(angles), np.sin(angles)], axis=1)
    # per projection (one at a time, to keep memory at one projection): each line's mass and first
    # moment across the candidate axis, lines along y being rows and lines along x columns
    mass = {"y": np.empty((n, ny)), "x": np.empty((n, nx))}
    moment = {"y": np.empty((n, ny)), "x": np.empty((n, nx))}
    for index, projection in enumerate(projections):
        projection = projection.astype(np.float64)
        signal = np.clip(projection - np.percentile(projection, background_percentile), 0.0, None)
        mass["y"][index], moment["y"][index] = signal.sum(axis=1), signal @ np.arange(nx)
        mass["x"][index], moment["x"][index] = signal.sum(axis=0), np.arange(ny) @ signal
    misfit = {}
    for axis in AXES:
        weight = mass[axis]  # (tilts, lines): a line empty at one tilt has no centroid there
        centroid = moment[axis] / np.maximum(weight, np.finfo(float).tiny)
        mean_mass = weight.mean(axis=0)
        if not mean_mass.max() > 0:
            misfit[axis] = float("nan")
            continue
        keep = mean_mass > min_line_mass * mean_mass.max()
        w, y = weight[:, keep], centroid[:, keep]
        # each line's sinusoid by least squares weighted with its mass at each tilt
        normal = np.einsum("tl,tj,tk->ljk", w, design, design)
        rhs = np.einsum("tl,tj,tl->lj", w, design, y)
        coefficients = np.einsum("ljk,lk->lj", np.linalg.pinv(normal), rhs)
        residual = y - np.einsum("tj,lj->tl", design, coefficients)
        misfit[axis] = float(np.sqrt((w * residual ** 2).sum() / w.sum()))
    return misfit


def likely_tilt_axis(misfit: dict[str, float], margin: float = 1.5, min_misfit_px: float = 0.25) -> str | None:
    """The axis whose misfit is at least ``margin`` times smaller than the other's, where the other's
    is at least ``min_misfit_px`` pixels; None when the check cannot tell. (Both misfits are small
    when the lines across one axis do not move at all, as for one round particle: its centroids
    fit either axis.)"""
    y, x = misfit["y"], misfit["x"]
    if not (np.isfinite(y) and np.isfinite(x)) or max(y, x) < min_misfit_px:
        return None
    if y * margin <= x:
        return "y"
    if x * margin <= y:
        return "x"
    return None
