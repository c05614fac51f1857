"""Run an inferer on the grid a model was trained on: resample in, infer, resample back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.inferers import Inferer


def resampled_shape(shape: Sequence[int], scale: Sequence[float]) -> tuple[int, ...]:
    """``round(size * factor)`` per axis, at least 1."""
    return tuple(max(1, int(round(size * factor))) for size, factor in zip(shape, scale))


def resize_probabilities(batch: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``(B, C, *spatial)`` resized to ``shape`` with weights that sum to 1 at every output voxel
    (so probabilities stay probabilities, up to the image edges): 2D bilinear with anti-aliasing
    where an axis shrinks (``torch.nn.functional.interpolate(antialias=True)``); 3D with one axis
    kept, the same 2D resizing slice by slice along that axis; otherwise trilinear, or averaging
    over boxes (``area``) where every axis shrinks."""
    if tuple(batch.shape[2:]) == shape:
        return batch
    if len(shape) == 2:
        return F.interpolate(batch, size=shape, mode="bilinear", align_corners=False, antialias=True)
    kept = [axis for axis in range(3) if batch.shape[2 + axis] == shape[axis]]
    if kept:  # slice by slice along a kept axis
        axis = 2 + kept[-1]
        slices = torch.movedim(batch, axis, 1)  # (B, n, C, a, b)
        b, n, c = slices.shape[:3]
        plane = tuple(size for i, size in enumerate(shape) if i != kept[-1])
        resized = F.interpolate(slices.reshape(b * n, c, *slices.shape[3:]), size=plane, mode="bilinear",
                                align_corners=False, antialias=True)
        return torch.movedim(resized.reshape(b, n, c, *plane), 1, axis)
    if all(new <= old for new, old in zip(shape, batch.shape[2:])):
        return F.interpolate(batch, size=shape, mode="area")
    return F.interpolate(batch, size=shape, mode="trilinear", align_corners=False)


class ResamplingInferer(Inferer):
    """Resize the input by ``scale`` before ``inferer`` and its output back to the input's size.

    ``scale`` is the input's voxel size divided by the model's, per spatial axis in the tensor's
    order: 4 for a 0.48 nm input and a 0.12 nm model (the input is enlarged 4x). The output of
    ``inferer`` (probabilities or logits, ``(B, C, *spatial)``) is resized back with linear
    interpolation, which keeps probabilities summing to 1; the argmax is taken on the input grid.

    Input: ``(B, C_in, *spatial)``, 2D or 3D. Output: ``(B, C_out, *spatial)``, the input's size.
    """

    def __init__(self, inferer: Callable[..., torch.Tensor], scale: Sequence[float]) -> None:
        super().__init__()
        if any(not factor > 0 for factor in scale):
            raise ValueError(f"scale factors must be positive, got {tuple(scale)}")
        self.inferer, self.scale = inferer, tuple(float(factor) for factor in scale)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor],
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        if inputs.ndim - 2 != len(self.scale):
            raise ValueError(f"{len(self.scale)} scale factors for a {inputs.ndim - 2}D input")
        shape = tuple(inputs.shape[2:])
        resized = resize_probabilities(inputs.float(), resampled_shape(shape, self.scale))
        outputs = self.inferer(resized, network, *args, **kwargs)
        return resize_probabilities(outputs.float(), shape)
