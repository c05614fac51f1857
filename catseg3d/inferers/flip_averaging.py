"""Test-time augmentation by flips as a MONAI inferer, for evaluators and the predictor alike."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer, SimpleInferer


def flip_sets(spatial_dims: int) -> list[tuple[int, ...]]:
    """Every subset of the spatial axes of a ``(B, C, *spatial)`` tensor: 4 in 2D, 8 in 3D."""
    axes = range(2, 2 + spatial_dims)
    return [flips for k in range(spatial_dims + 1) for flips in itertools.combinations(axes, k)]


class FlipAveragingInferer(Inferer):
    """Softmax probabilities averaged over the image and its flips along every set of axes.

    Each flipped input goes through ``inferer``; the softmax of its output (over the channel axis)
    is flipped back and the ``2 ** spatial_dims`` maps are averaged. The argmax of the result is
    what post-processing such as ``AsDiscrete(argmax=True)`` sees, as for raw logits.

    Args:
        inferer: the inferer to wrap (default :class:`monai.inferers.SimpleInferer`), e.g. a
            :class:`catseg3d.inferers.AutocastInferer` or a sliding-window inferer.

    Input: ``(Batch, in_channels, *spatial)``, 2D or 3D. Output: float32 probabilities
    ``(Batch, out_channels, *spatial)`` that sum to 1 over the channel axis.
    """

    def __init__(self, inferer: Inferer | None = None) -> None:
        super().__init__()
        self.inferer = SimpleInferer() if inferer is None else inferer

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor],
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        if inputs.ndim not in (4, 5):
            raise ValueError(f"expected a (B, C, H, W) or (B, C, D, H, W) input, got shape {tuple(inputs.shape)}")
        total = None
        for flips in flip_sets(inputs.ndim - 2):
            flipped = torch.flip(inputs, flips) if flips else inputs
            probabilities = torch.softmax(self.inferer(flipped, network, *args, **kwargs).float(), dim=1)
            probabilities = torch.flip(probabilities, flips) if flips else probabilities
            total = probabilities if total is None else total.add_(probabilities)
        return total / len(flip_sets(inputs.ndim - 2))
