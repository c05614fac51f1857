"""Mixed precision that works on the CPU too (MONAI's ``amp=True`` autocasts only on CUDA)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from monai.data import MetaTensor
from monai.inferers import Inferer, SimpleInferer
from monai.utils import convert_to_dst_type, convert_to_tensor
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


class AutocastInferer(Inferer):
    """Run another inferer under ``torch.autocast`` on the input's device and return float32.

    On a CPU with bfloat16 support, bfloat16 autocast plus channels-last tensors makes the
    paper's U-Net several times faster than float32 (``scripts/bench_train_step.py``). Gradients
    flow through as usual, so the same object serves ``SupervisedTrainer`` and
    ``SupervisedEvaluator``; the loss is computed outside, in float32, on the returned logits.

    Args:
        inferer: the inferer to wrap (default :class:`monai.inferers.SimpleInferer`).
        dtype: autocast dtype, ``"bfloat16"`` (CPU and CUDA) or ``"float16"`` (CUDA).
        enabled: ``False`` runs the wrapped inferer in float32, unchanged.
        channels_last: convert 4D/5D inputs to channels-last memory format first.

    Input: ``(Batch, in_channels, dim_0[, dim_1[, dim_2]])``. Output: the wrapped inferer's output
    as float32; a ``MetaTensor`` input's metadata (affine, file name) is carried over to it, as
    MONAI's own inferers do, while the network itself runs on plain tensors.
    """

    def __init__(self, inferer: Inferer | None = None, dtype: str | torch.dtype = "bfloat16",
                 enabled: bool = True, channels_last: bool = True) -> None:
        super().__init__()
        self.inferer = SimpleInferer() if inferer is None else inferer
        self.dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        self.enabled = enabled
        self.channels_last = channels_last

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor],
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        tensor = convert_to_tensor(inputs, track_meta=False)
        if self.channels_last and tensor.ndim in (4, 5):
            tensor = tensor.contiguous(memory_format=memory_format_for(tensor.ndim))
        with torch.autocast(device_type=tensor.device.type, dtype=self.dtype, enabled=self.enabled):
            outputs = self.inferer(tensor, network, *args, **kwargs).float()
        if isinstance(inputs, MetaTensor):
            return convert_to_dst_type(outputs, inputs, dtype=torch.float32)[0]
        return outputs
