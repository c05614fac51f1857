"""The parallel-beam projection matrix of one slice perpendicular to the tilt axis.

Geometry (the convention of every catseg3d tomography function): a volume is numpy ``(z, y, x)``
with the tilt axis along ``y`` and the electron beam along ``z`` at 0 degrees; a tilt series is
``(n_angles, y, x)``. Each ``y`` row of the tilt series is the sinogram of one ``(z, x)`` slice,
so the 3D problem is ``ny`` independent 2D problems sharing one matrix. At tilt angle ``theta``
the beam runs along ``(x, z) = (sin theta, cos theta)`` and a point at ``(x, z)`` (from the slice
centre, in pixels) lands on the detector at ``t = x cos theta - z sin theta``.

The projector is pixel-driven with linear interpolation: each pixel's value is split between the
two detector bins around ``t``, so every pixel contributes its full value to each projection and
the matrix's transpose is its exact adjoint (what SIRT and MLEM need).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import sparse


def parallel_projection_matrix(slice_shape: tuple[int, int], angles_deg: Sequence[float],
                               detector_bins: int | None = None) -> sparse.csr_matrix:
    """The sparse matrix ``A`` with ``sinogram = A @ slice.ravel()``.

    Args:
        slice_shape: ``(nz, nx)`` pixels of a slice.
        angles_deg: tilt angles in degrees.
        detector_bins: detector width in pixels (default ``nx``), centred on the slice.

    Returns:
        float32 CSR matrix of shape ``(len(angles) * detector_bins, nz * nx)``; row
        ``a * detector_bins + d`` is bin ``d`` of angle ``a``.
    """
    nz, nx = slice_shape
    bins = nx if detector_bins is None else detector_bins
    z, x = np.meshgrid(np.arange(nz) - (nz - 1) / 2, np.arange(nx) - (nx - 1) / 2, indexing="ij")
    x, z = x.ravel(), z.ravel()
    pixels = np.arange(nz * nx)
    rows, cols, weights = [], [], []
    for a, theta in enumerate(np.deg2rad(np.asarray(angles_deg, dtype=np.float64))):
        t = x * np.cos(theta) - z * np.sin(theta) + (bins - 1) / 2
        low = np.floor(t).astype(np.int64)
        frac = t - low
        for bin_index, weight in ((low, 1 - frac), (low + 1, frac)):
            inside = (bin_index >= 0) & (bin_index < bins) & (weight > 0)
            rows.append(a * bins + bin_index[inside])
            cols.append(pixels[inside])
            weights.append(weight[inside])
    shape = (len(angles_deg) * bins, nz * nx)
    return sparse.csr_matrix((np.concatenate(weights).astype(np.float32),
                              (np.concatenate(rows), np.concatenate(cols))), shape=shape)


def project_volume(volume: np.ndarray, angles_deg: Sequence[float]) -> np.ndarray:
    """The tilt series of a volume: line sums along the beam at each angle.

    Args:
        volume: ``(nz, ny, nx)`` values per voxel (tilt axis ``y``, beam ``z`` at 0 degrees).
        angles_deg: tilt angles in degrees.

    Returns:
        float32 ``(n_angles, ny, nx)`` projections (sums of voxel values, detector width ``nx``).
    """
    nz, ny, nx = volume.shape
    matrix = parallel_projection_matrix((nz, nx), angles_deg)
    columns = np.ascontiguousarray(np.asarray(volume, dtype=np.float32).transpose(0, 2, 1).reshape(nz * nx, ny))
    sinograms = matrix @ columns  # (n_angles * nx, ny)
    return np.ascontiguousarray(sinograms.reshape(len(angles_deg), nx, ny).transpose(0, 2, 1))
