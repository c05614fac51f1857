"""Mixed precision that works on the CPU too (MONAI's ``amp=True`` autocasts only on CUDA)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from monai.data import MetaTensor
from monai.inferers import Inferer, SimpleInferer
from monai.utils import convert_to_dst_type, convert_to_tensor

from catseg3d.engines.flags import as_bool
from catseg3d.networks.placement import memory_format_for


def native_bfloat16(device: torch.device | str) -> bool:
    """True where ``device`` computes bfloat16 natively: CUDA, or a CPU with AVX512-BF16 or AMX.

    Elsewhere bfloat16 is emulated and slower than float32 (2x per training step on an AVX512 CPU
    without BF16, ``scripts/bench_train_step.py``).
    """
    if torch.device(device).type == "cuda":
        return True
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_enabled(setting: bool | int | str, device: torch.device | str) -> bool:
    """Whether to autocast to bfloat16: ``"auto"`` where :func:`native_bfloat16`, else ``setting``
    as a switch (``true``/``false``, see :func:`catseg3d.engines.as_bool`)."""
    if isinstance(setting, str) and setting.strip().lower() == "auto":
        return native_bfloat16(device)
    return as_bool(setting)


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
