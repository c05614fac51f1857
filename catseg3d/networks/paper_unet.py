"""The U-Net of Genc, Kovarik & Fraser (2022), for 2D slices or 3D volumes."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from monai.networks.layers.factories import Conv, Pool
from torch import nn

PAPER_FEATURES = (32, 64, 128, 256, 512, 1024)


def double_conv(spatial_dims: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3(x3) 'same'-padded convolutions, each followed by ReLU."""
    conv = Conv[Conv.CONV, spatial_dims]
    return nn.Sequential(
        conv(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        conv(out_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True),
    )


class PaperUNet(nn.Module):
    """The paper's U-Net: ``len(features)`` down steps and ``len(features) - 1`` up steps.

    Down step ``k`` is :func:`double_conv` to ``features[k]`` channels; average pooling (2x)
    separates the steps. Each up step is a 2x2 stride-2 transposed convolution to ``features[k]``
    channels, concatenation with the skip of down step ``k`` and :func:`double_conv`. A 1x1
    convolution gives ``out_channels`` logits. Weights are He-normal (``kaiming_normal_``, fan-in,
    ReLU gain), biases zero. With the defaults (2D, 1 input channel, 3 classes) the network has
    31,093,987 parameters, the count of the authors' Keras model.

    Args:
        spatial_dims: 2 for slices, 3 for volumes.
        in_channels: channels of the input image.
        out_channels: number of classes.
        features: channels of each down step, default ``(32, 64, 128, 256, 512, 1024)``.

    Input: ``(Batch, in_channels, dim_0[, dim_1, ..., dim_N-1])``, every spatial size a multiple of
    ``2 ** (len(features) - 1)`` (32 by default).
    Output: logits ``(Batch, out_channels, dim_0[, dim_1, ..., dim_N-1])``, no softmax applied.

    Raises:
        ValueError: ``spatial_dims`` not 2 or 3, fewer than two feature sizes, or (in ``forward``)
            a spatial size that is not a multiple of the total down-sampling factor.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 3,
                 features: Sequence[int] = PAPER_FEATURES) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        features = tuple(int(f) for f in features)
        if len(features) < 2:
            raise ValueError(f"need at least two feature sizes, got {features}")
        self.spatial_dims = spatial_dims
        self.size_multiple = 2 ** (len(features) - 1)
        channels = (in_channels, *features)
        self.down = nn.ModuleList(double_conv(spatial_dims, c_in, c_out)
                                  for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.pool = Pool[Pool.AVG, spatial_dims](kernel_size=2, stride=2)
        transposed = Conv[Conv.CONVTRANS, spatial_dims]
        self.upsample = nn.ModuleList(transposed(c_deep, c_skip, kernel_size=2, stride=2)
                                      for c_deep, c_skip in zip(features[:0:-1], features[-2::-1]))
        self.up = nn.ModuleList(double_conv(spatial_dims, 2 * c_skip, c_skip)
                                for c_skip in features[-2::-1])
        self.head = Conv[Conv.CONV, spatial_dims](features[0], out_channels, kernel_size=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal weights (fan-in, ReLU gain) and zero biases for every convolution."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = x.shape[2:]  # written for TorchScript: no generators, no tuple() of a list
        bad_size = False
        for size in spatial:
            bad_size = bad_size or size % self.size_multiple != 0
        if len(spatial) != self.spatial_dims or bad_size:
            raise ValueError(f"expected {self.spatial_dims} spatial sizes that are multiples of "
                             f"{self.size_multiple}, got input shape {list(x.shape)}")
        skips = []
        for index, block in enumerate(self.down):
            x = block(x if index == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for upsample, block in zip(self.upsample, self.up):
            x = block(torch.cat([skips.pop(), upsample(x)], dim=1))
        return self.head(x)


def paper_unet_features(state: Mapping[str, torch.Tensor]) -> list[int]:
    """The ``features`` of the :class:`PaperUNet` whose ``state_dict`` is ``state``.

    Read from the weights' shapes: down step ``k``'s first convolution has ``features[k]`` output
    channels, so 2D and 3D networks of any width and depth are recognised.

    Raises:
        KeyError: ``state`` holds no down steps of a PaperUNet.
    """
    levels = [int(key.split(".")[1]) for key in state if key.startswith("down.")]
    if not levels:
        raise KeyError("down.0.0.weight")
    return [int(state[f"down.{level}.0.weight"].shape[0]) for level in range(1 + max(levels))]
