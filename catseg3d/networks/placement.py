"""Where a network runs: its device and memory format."""

from __future__ import annotations

import torch
from torch import nn


def memory_format_for(ndim: int) -> torch.memory_format:
    """``channels_last`` for 4D ``(B, C, H, W)`` tensors, ``channels_last_3d`` for 5D ones."""
    if ndim not in (4, 5):
        raise ValueError(f"channels-last needs a 4D or 5D tensor, got {ndim}D")
    return torch.channels_last if ndim == 4 else torch.channels_last_3d


def place_network(network: nn.Module, device: torch.device | str, spatial_dims: int = 2,
                  channels_last: bool = True) -> nn.Module:
    """Move ``network`` to ``device``, in channels-last memory format if asked (in place)."""
    network = network.to(device)
    if channels_last:
        network = network.to(memory_format=memory_format_for(spatial_dims + 2))
    return network
