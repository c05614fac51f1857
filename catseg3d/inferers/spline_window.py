"""Sliding windows blended with the squared-spline window of the paper's patch blending."""

from __future__ import annotations

import numpy as np
import torch
from monai.inferers import SlidingWindowInferer
from scipy.signal.windows import triang


def spline_window(size: int, power: int = 2) -> np.ndarray:
    """The 1D squared-spline window of Smoothly-Blend-Image-Patches, mean 1, ``(size,)`` float64."""
    quarter = size // 4
    outer = (np.abs(2 * triang(size)) ** power) / 2
    outer[quarter:-quarter] = 0
    inner = 1 - (np.abs(2 * (triang(size) - 1)) ** power) / 2
    inner[:quarter] = 0
    inner[-quarter:] = 0
    window = inner + outer
    return window / window.mean()


class SplineWindowInferer(SlidingWindowInferer):
    """:class:`SlidingWindowInferer` blending with the separable :func:`spline_window`."""

    def __init__(self, roi_size: tuple[int, ...], **kwargs) -> None:
        super().__init__(roi_size, **kwargs)
        weights = np.ones(())
        for size in roi_size:
            weights = np.multiply.outer(weights, spline_window(size))
        self.roi_weight_map = torch.as_tensor(weights, dtype=torch.float32)
