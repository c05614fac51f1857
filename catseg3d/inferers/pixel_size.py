"""Run an inferer at the pixel size a model was trained at, whatever the input's (MetaTensor) grid."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.data import MetaTensor
from monai.inferers import Inferer

from catseg3d.inferers.resampling import resampled_shape, resize_probabilities
from catseg3d.io.axes import spacing_to_monai
from catseg3d.io.nifti import loaded_spacing_nm

RESAMPLE_TOLERANCE = 0.03  # pixel sizes within 3 % of the model's are used as they are
MAX_UPSAMPLING = 4.0  # an input pixel at most this many times the model's is resampled to the model's


def resampling_scale(input_spacing: Sequence[float], model_spacing: Sequence[float],
                     tolerance: float = RESAMPLE_TOLERANCE) -> tuple[float, ...] | None:
    """Input pixel size / model pixel size per axis (both in the same units and axis order), or
    None where every axis is within ``tolerance`` of the model's and the input is used as it is.

    Raises:
        ValueError: an input pixel more than :data:`MAX_UPSAMPLING` times the model's (beyond
            ``tolerance``) along some axis: too coarse for what the model learned to see, and as
            many times the pixels along that axis.
    """
    scale = tuple(float(i) / float(m) for i, m in zip(input_spacing, model_spacing, strict=True))
    if max(scale) > MAX_UPSAMPLING * (1 + tolerance):
        advice = ("fine-tune a model at this pixel size (catseg3d finetune) or run on the input's own grid "
                  "(--no-resample)")
        if max(scale) >= 1e3:  # nm numbers under a unit code: ITK-based tools save NIfTI as mm
            advice = ("if the file's numbers are nm under another unit code (ITK-SNAP, 3D Slicer and SimpleITK "
                      "save NIfTI as mm), give the voxel size with --spacing NM; else " + advice)
        raise ValueError(f"pixel size {' x '.join(f'{float(s):g}' for s in input_spacing)} nm is {max(scale):.3g}x "
                         f"the model's {' x '.join(f'{float(s):g}' for s in model_spacing)} nm, more than the "
                         f"{MAX_UPSAMPLING:g}x an input is resampled by (too coarse for what the model learned to "
                         f"see); {advice}")
    return scale if any(abs(f - 1) > tolerance for f in scale) else None


class PixelSizeInferer(Inferer):
    """Resample each input to the model's pixel size before ``inferer``, and the class
    probabilities back to the input's grid after (the argmax is then taken on the input's grid),
    as ``catseg3d segment`` does.

    Args:
        inferer: returns logits ``(B, C, *spatial)`` for inputs ``(B, 1, *spatial)``.
        spacing_nm: the model's training pixel size in nm, numpy order (``(y, x)`` for a 2D model,
            ``(z, y, x)`` for a 3D one); None: never resample.
        spatial_axes: the input's spatial axes (MONAI order, 0 = x) the model's pixels span, e.g.
            ``(0, 1)`` for a 2D model run slice by slice along z by a ``SliceInferer``; default all.
            Axes outside them keep their size; the resampling is then done slice by slice, with
            the same 2D interpolation as for a single slice.
        tolerance: relative pixel-size difference under which the input is used as it is.

    Input: a MetaTensor ``(B, 1, *spatial)`` (its affine and file unit give the pixel size; batch
    items are taken to share the first item's). Output: logits as ``inferer`` returns them where
    nothing is resampled, else softmax probabilities ``(B, C, *spatial)`` on the input's grid.
    """

    def __init__(self, inferer: Callable[..., torch.Tensor], spacing_nm: Sequence[float] | None,
                 spatial_axes: Sequence[int] | None = None, tolerance: float = RESAMPLE_TOLERANCE) -> None:
        super().__init__()
        if spacing_nm is not None and any(not s > 0 for s in spacing_nm):
            raise ValueError(f"the model's pixel size must be positive, got {tuple(spacing_nm)}")
        if spacing_nm is not None and spatial_axes is not None and len(spatial_axes) != len(spacing_nm):
            raise ValueError(f"{len(spacing_nm)} pixel sizes for {len(spatial_axes)} spatial axes")
        self.inferer, self.tolerance = inferer, tolerance
        self.spacing = None if spacing_nm is None else spacing_to_monai(spacing_nm)
        self.spatial_axes = None if spatial_axes is None else tuple(spatial_axes)

    def scale_for(self, inputs: torch.Tensor) -> tuple[float, ...] | None:
        """Input pixel size / model pixel size per spatial axis of ``inputs`` (MONAI order), or
        None where nothing is resampled."""
        if self.spacing is None or not isinstance(inputs, MetaTensor):
            return None
        spacing = spacing_to_monai(loaded_spacing_nm(inputs, inputs.ndim - 2))
        axes = self.spatial_axes if self.spatial_axes is not None else tuple(range(len(spacing)))
        if len(axes) != len(self.spacing):
            raise ValueError(f"a {len(self.spacing)}D model's pixel size for {len(axes)} spatial axes")
        model = list(spacing)  # axes the model's pixels do not span keep their size
        for axis, size in zip(axes, self.spacing):
            model[axis] = size
        return resampling_scale(spacing, model, self.tolerance)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor],
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        scale = self.scale_for(inputs)
        if scale is None:
            return self.inferer(inputs, network, *args, **kwargs)
        shape = tuple(inputs.shape[2:])
        x = torch.as_tensor(inputs).float()
        resized = resize_probabilities(x, resampled_shape(shape, scale))
        probabilities = torch.softmax(self.inferer(resized, network, *args, **kwargs).float(), dim=1)
        return resize_probabilities(probabilities, shape)
