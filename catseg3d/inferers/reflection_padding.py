"""Mirrored context at the image edges, as a MONAI inferer wrapper.

The U-Net's convolutions pad with zeros ('same' padding, as in the paper). At an image edge the
deep layers then see a wall of zeros, and a network can answer it with a label that is not in the
image: half-width ``train_best.yaml`` models label the pixel at one corner alumina, even on an
all-zero image. Mirroring the image outward by one cell
of the deepest level (32 pixels for the paper's six levels) before the network and cropping the
prediction back gives the edges real-looking context; it removes that pixel and scores the same or
better elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.inferers import Inferer, SimpleInferer
from monai.utils import convert_to_dst_type, convert_to_tensor


def reflection_borders(spatial_shape: Sequence[int], border: int, spatial_axes: Sequence[int] | None = None) -> list[int]:
    """Pixels mirrored on each side of each spatial axis: ``border``, at most ``size - 1`` (what a
    reflection can supply), 0 on axes not in ``spatial_axes`` (default: all).

    Args:
        spatial_shape: the input's spatial sizes, in its own axis order.
        border: pixels wanted on each side (non-negative).
        spatial_axes: indices into ``spatial_shape`` to pad; None pads every axis.
    """
    if border < 0:
        raise ValueError(f"border must be non-negative, got {border}")
    axes = range(len(spatial_shape)) if spatial_axes is None else spatial_axes
    return [min(border, size - 1) if axis in axes else 0 for axis, size in enumerate(spatial_shape)]


def padded_shape(spatial_shape: Sequence[int], border: int, spatial_axes: Sequence[int] | None = None) -> tuple[int, ...]:
    """The spatial shape the wrapped inferer sees after :func:`reflection_borders` on both sides."""
    borders = reflection_borders(spatial_shape, border, spatial_axes)
    return tuple(size + 2 * b for size, b in zip(spatial_shape, borders))


class ReflectionPaddingInferer(Inferer):
    """Mirror the input outward by ``border`` pixels, run ``inferer``, crop its output back.

    Args:
        inferer: the inferer to wrap (default :class:`monai.inferers.SimpleInferer`), e.g. a
            :class:`catseg3d.inferers.AutocastInferer` or a sliding-window inferer.
        border: pixels mirrored on each side of each padded axis (0: the input unchanged). An axis
            shorter than ``border + 1`` gets ``size - 1``.
        spatial_axes: spatial axes to pad, counted from the first one after the channel axis
            (e.g. ``[0, 1]`` pads x and y but not z of a volume that a ``SliceInferer`` segments
            slice by slice); None pads all.

    Input: ``(Batch, C, *spatial)``, 2D or 3D. Output: the wrapped inferer's output for the padded
    input, cropped to ``(Batch, out_channels, *spatial)``; a ``MetaTensor`` input's metadata is
    carried over to it.
    """

    def __init__(self, inferer: Inferer | None = None, border: int = 32,
                 spatial_axes: Sequence[int] | None = None) -> None:
        super().__init__()
        if border < 0:
            raise ValueError(f"border must be non-negative, got {border}")
        self.inferer = SimpleInferer() if inferer is None else inferer
        self.border = border
        self.spatial_axes = None if spatial_axes is None else tuple(spatial_axes)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor],
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        if inputs.ndim not in (4, 5):
            raise ValueError(f"expected a (B, C, H, W) or (B, C, D, H, W) input, got shape {tuple(inputs.shape)}")
        borders = reflection_borders(inputs.shape[2:], self.border, self.spatial_axes)
        if not any(borders):
            return self.inferer(inputs, network, *args, **kwargs)
        tensor = convert_to_tensor(inputs, track_meta=False)
        # F.pad takes (before, after) pairs from the last axis backwards
        pairs = [p for b in reversed(borders) for p in (b, b)]
        outputs = self.inferer(F.pad(tensor, pairs, mode="reflect"), network, *args, **kwargs)
        crop = (slice(None), slice(None), *(slice(b, b + size) for b, size in zip(borders, inputs.shape[2:])))
        outputs = outputs[crop]
        if isinstance(inputs, MetaTensor):
            return convert_to_dst_type(outputs, inputs, dtype=outputs.dtype, device=outputs.device)[0]
        return outputs
