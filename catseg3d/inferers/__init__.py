"""MONAI inferers: CPU autocast, flip averaging, mirrored borders, resampling, spline blending."""

from catseg3d.inferers.autocast import AutocastInferer, autocast_enabled, native_bfloat16
from catseg3d.inferers.flip_averaging import FlipAveragingInferer
from catseg3d.inferers.reflection_padding import ReflectionPaddingInferer, padded_shape, reflection_borders
from catseg3d.inferers.resampling import ResamplingInferer, resampled_shape
from catseg3d.inferers.spline_window import SplineWindowInferer, spline_window

__all__ = ["AutocastInferer", "FlipAveragingInferer", "ReflectionPaddingInferer", "ResamplingInferer",
           "SplineWindowInferer", "autocast_enabled", "native_bfloat16", "padded_shape", "reflection_borders", "resampled_shape", "spline_window"]
