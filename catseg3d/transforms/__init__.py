"""Transforms: mapping raw tomogram intensities to a model's input range; one-hot labels with
unlabelled pixels left out."""

from catseg3d.transforms.intensity import IntensityMapping, MapIntensityd, to_uint8
from catseg3d.transforms.labels import OneHotLabelledd

__all__ = ["IntensityMapping", "MapIntensityd", "OneHotLabelledd", "to_uint8"]
