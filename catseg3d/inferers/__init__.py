"""MONAI inferers: CPU autocast, flip averaging, mirrored borders, resampling to the model's pixel size,
spline blending."""

from catseg3d.inferers.autocast import AutocastInferer, autocast_enabled, native_bfloat16
from catseg3d.inferers.flip_averaging import FlipAveragingInferer
from catseg3d.inferers.pixel_size import MAX_UPSAMPLING, RESAMPLE_TOLERANCE, PixelSizeInferer, resampling_scale
from catseg3d.inferers.reflection_padding import ReflectionPaddingInferer, padded_shape, reflection_borders
from catseg3d.inferers.resampling import ResamplingInferer, resize_probabilities, resampled_shape
from catseg3d.inferers.spline_window import SplineWindowInferer, spline_window

__all__ = ["MAX_UPSAMPLING", "RESAMPLE_TOLERANCE", "AutocastInferer", "FlipAveragingInferer", "PixelSizeInferer",
           "resampling_scale", "ReflectionPaddingInferer", "ResamplingInferer", "SplineWindowInferer", "autocast_enabled",
           "native_bfloat16", "padded_shape", "reflection_borders", "resampled_shape",
           "resize_probabilities", "spline_window"]
