"""Class probabilities of 8-bit slices or blocks from a :class:`SegmentationModel`.

Windowing, blending and padding are MONAI's :class:`~monai.inferers.SlidingWindowInferer`;
mixed precision and channels-last come from :class:`catseg3d.inferers.AutocastInferer`. Options
beyond the paper, each measured in the experiment record (``docs/experiments``):

* ``window=None``: the whole slice in one pass (the network is fully convolutional), padded by
  edge replication to a multiple of its down-sampling factor; no seams, no overlap cost.
* ``blend="spline"``: the squared-spline window of the paper's patch blending (Smoothly-Blend-
  Image-Patches) instead of MONAI's gaussian.
* ``tta=True``: the probabilities averaged over the four flips of each slice (eight for 3D),
  :class:`catseg3d.inferers.FlipAveragingInferer`.

Each slice (3D: block, in y and x) is mirrored outward by ``border`` pixels before the windows and
cropped after (:class:`catseg3d.inferers.ReflectionPaddingInferer`), so that the image edges have
context instead of the network's zero padding. A 3D block is not mirrored along z: blocks are
streamed with real neighbouring slices as their halo.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from monai.inferers import SlidingWindowInferer

from catseg3d.inference.model import SegmentationModel
from catseg3d.inferers import (AutocastInferer, FlipAveragingInferer, ReflectionPaddingInferer,
                               ResamplingInferer, SplineWindowInferer, native_bfloat16, padded_shape,
                               resampling_scale)
from catseg3d.io.axes import batch_from_monai, batch_to_monai, spacing_to_monai
from catseg3d.networks import memory_format_for

BLENDS = ("gaussian", "spline")
PRECISIONS = ("auto", "bfloat16", "float32")
log = logging.getLogger(__name__)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``bfloat16`` or ``float32`` for ``precision`` (one of :data:`PRECISIONS`) on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if native_bfloat16(device):
        return "bfloat16"
    log.warning("this CPU has no native bfloat16 (AVX512-BF16 or AMX): running in float32")
    return "float32"


def round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


class Predictor:
    """Softmax probabilities of uint8 images (levels 0-255; the network sees level / 255).

    Args:
        model: the loaded model.
        window: square (cubic) window edge in voxels, a multiple of ``model.size_multiple``;
            None runs each slice (or block) whole.
        overlap: fraction of a window shared with its neighbour.
        blend: ``gaussian`` (MONAI) or ``spline`` (the paper's blending).
        tta: average over flips.
        border: pixels of mirrored image added on each side of each slice (3D block: in y and x)
            before the network and cropped after (0: none; 32, one cell of the paper U-Net's deepest level,
            removes the zero-padding artefact at image corners).
        precision: ``auto``, ``bfloat16`` or ``float32`` (``auto``: bfloat16 on CUDA or a CPU
            with native bfloat16, else float32 with a warning).
        channels_last: channels-last memory format (faster on CPU).
        sw_batch_size: windows (whole slices when ``window`` is None) per network call.
        device: where the network runs.
        resample: bring images whose pixel size (the ``spacing`` of a call) differs from the
            model's ``spacing_nm`` by more than :data:`RESAMPLE_TOLERANCE` to the model's pixel size
            before the network, and the probabilities back after (``window`` and ``border`` count
            pixels of the model's grid).

    Call with ``(n, rows, cols)`` slices (2D model) or one ``(z, y, x)`` block (3D model); returns
    float32 ``(n, C, rows, cols)`` or ``(C, z, y, x)``. Arrays are in numpy order; the network
    sees them transposed (MONAI's NIfTI order), as in training. ``spacing`` (optional): the pixel
    size in nm of ``(rows, cols)`` or ``(z, y, x)``.
    """

    def __init__(self, model: SegmentationModel, window: int | None = None, overlap: float = 0.25,
                 blend: str = "gaussian", tta: bool = False, border: int = 32, precision: str = "auto",
                 channels_last: bool = True, sw_batch_size: int = 1,
                 device: torch.device | str = "cpu", resample: bool = True) -> None:
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
        if window is not None and (window <= 0 or window % model.size_multiple):
            raise ValueError(f"window must be a positive multiple of {model.size_multiple}, got {window}")
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if border < 0:
            raise ValueError(f"border must be non-negative, got {border}")
        if sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be at least 1, got {sw_batch_size}")
        self.model, self.window, self.overlap, self.blend, self.border = model, window, overlap, blend, border
        # network order: (x, y) or (x, y, z); a 3D block keeps its real z halo
        self.mirrored_axes = None if model.spatial_dims == 2 else (0, 1)
        self.tta, self.sw_batch_size = tta, sw_batch_size
        self.device = torch.device(device)
        # onnxruntime runs the exported float32 graph whatever torch's autocast says
        self.precision = "float32" if model.runtime == "onnx" else resolve_precision(precision, self.device)
        self.channels_last = channels_last
        self.resample = resample
        self.network = model.network.to(self.device)
        if channels_last:
            self.network = self.network.to(memory_format=memory_format_for(model.spatial_dims + 2))

    def _windows(self, spatial: tuple[int, ...]) -> SlidingWindowInferer:
        kwargs = dict(sw_batch_size=self.sw_batch_size, padding_mode="replicate")
        if self.window is None:  # one window covering the whole (padded) slice
            roi = tuple(round_up(s, self.model.size_multiple) for s in spatial)
            return SlidingWindowInferer(roi, overlap=0.0, **kwargs)
        roi = (self.window,) * len(spatial)
        kwargs["overlap"] = self.overlap
        if self.blend == "spline":
            return SplineWindowInferer(roi, **kwargs)
        return SlidingWindowInferer(roi, mode="gaussian", **kwargs)

    def _run_network(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=memory_format_for(x.ndim))
        return self.network(x)

    def scale_for(self, spacing) -> tuple[float, ...] | None:
        """Input pixel size / model pixel size per axis (numpy order) when the input is resampled;
        None when it is used as it is (``resample`` off, no pixel size known, or all within
        :data:`RESAMPLE_TOLERANCE`).

        Raises:
            ValueError: ``spacing`` has another number of axes than the model, or is more than
                :data:`catseg3d.inferers.MAX_UPSAMPLING` times the model's along an axis.
        """
        if not self.resample or spacing is None or self.model.spacing_nm is None:
            return None
        if len(spacing) != len(self.model.spacing_nm):
            raise ValueError(f"{len(spacing)} pixel sizes for a {len(self.model.spacing_nm)}D model")
        return resampling_scale(spacing, self.model.spacing_nm)

    def _model_grid(self, x: torch.Tensor, network) -> torch.Tensor:
        """Softmax of network-order inputs already on the model's grid."""
        windows = self._windows(padded_shape(x.shape[2:], self.border, self.mirrored_axes))
        inferer = ReflectionPaddingInferer(AutocastInferer(windows, enabled=self.precision == "bfloat16",
                                                           channels_last=False), self.border, self.mirrored_axes)
        if self.tta:
            return FlipAveragingInferer(inferer)(x, network)
        return torch.softmax(inferer(x, network).float(), dim=1)

    def probabilities(self, x: torch.Tensor, scale: tuple[float, ...] | None = None) -> torch.Tensor:
        """Softmax ``(B, C, *spatial)`` of network-order inputs ``(B, 1, *spatial)`` in [0, 1];
        ``scale`` (network order): resample by it before the network and back after."""
        if scale is None:
            return self._model_grid(x, self._run_network)
        return ResamplingInferer(self._model_grid, scale)(x, self._run_network)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, spacing=None) -> np.ndarray:
        scale = self.scale_for(spacing)
        network_scale = None if scale is None else spacing_to_monai(scale)
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, torch.float32).div_(255.0)
        dims = self.model.spatial_dims
        return batch_from_monai(self.probabilities(batch_to_monai(x, dims), network_scale), dims).cpu().numpy()
