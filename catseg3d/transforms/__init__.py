"""Transforms: mapping raw tomogram intensities to a model's input range."""

from catseg3d.transforms.intensity import IntensityMapping, MapIntensityd, to_uint8

__all__ = ["IntensityMapping", "MapIntensityd", "to_uint8"]
