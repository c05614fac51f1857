"""Baselines that models are measured against: ilastik-style pixel classification."""

from catseg3d.baselines.pixel_forest import PixelForest

__all__ = ["PixelForest"]
