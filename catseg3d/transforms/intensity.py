"""Map raw tomogram intensities to the 8-bit range a model was trained on.

The paper's model saw 8-bit HAADF slices scaled to [0, 1]. Reconstructions come in any range
(float32 SIRT output has negative values), so :class:`IntensityMapping`, stored with the model in
the bundle's ``configs/metadata.json`` (key ``intensity_mapping``), maps them in one of two ways:

* ``fixed``: the training data's raw range (``fixed_range``, 0-255) goes linearly to [0, 1];
  right for 8-bit slices like the training data.
* ``percentile``: the input's ``percentiles`` (default 1 % and 99 %) go to the values those
  percentiles have in the training data (``targets``, in [0, 1]), linearly; everything else
  follows the same line, clipped to [0, 1].
* ``auto`` (the default of ``catseg3d segment``): ``fixed`` for 8-bit input, ``percentile``
  otherwise.

Either way the result is quantised to 256 levels, as the training slices were, and stored as
uint8 (level / 255 is the network input): the mapped volume costs one byte per voxel.

Percentiles are taken over :data:`PERCENTILE_SAMPLE_SLICES` evenly spaced z slices
(:func:`sample_indices`), so that a streamed volume needs not be read twice; ``catseg3d segment``
and the bundle's :class:`MapIntensityd` take the same slices and so map alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import convert_to_dst_type

from catseg3d.io.metadata import load_metadata

MODES = ("auto", "fixed", "percentile")
PERCENTILE_SAMPLE_SLICES = 16


@dataclass(frozen=True)
class IntensityMapping:
    """A model's training intensity range and percentile targets.

    Attributes:
        fixed_range: raw ``(low, high)`` values of the training images mapped to 0 and 1.
        percentiles: ``(p_low, p_high)`` in percent, measured on the input for ``percentile``.
        targets: the training images' values at those percentiles, in [0, 1].
    """

    fixed_range: tuple[float, float] = (0.0, 255.0)
    percentiles: tuple[float, float] = (1.0, 99.0)
    targets: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def fit(cls, images: Iterable[np.ndarray], fixed_range: tuple[float, float] = (0.0, 255.0),
            percentiles: tuple[float, float] = (1.0, 99.0)) -> "IntensityMapping":
        """The mapping of a model trained on ``images`` (raw values, scaled from ``fixed_range``)."""
        values = np.concatenate([np.asarray(image).ravel() for image in images]).astype(np.float64)
        low, high = fixed_range
        targets = (np.percentile(values, percentiles) - low) / (high - low)
        return cls(tuple(fixed_range), tuple(percentiles), tuple(float(t) for t in targets))

    def as_metadata(self) -> dict:
        """The ``intensity_mapping`` entry of a bundle's ``metadata.json``."""
        return {"fixed_range": list(self.fixed_range), "percentiles": list(self.percentiles),
                "targets": list(self.targets)}

    @classmethod
    def from_metadata(cls, metadata: dict) -> "IntensityMapping":
        """From a bundle ``metadata.json`` dictionary (its ``intensity_mapping`` entry).

        Raises:
            KeyError: the entry or one of its fields is missing.
        """
        entry = metadata["intensity_mapping"]
        return cls(tuple(entry["fixed_range"]), tuple(entry["percentiles"]), tuple(entry["targets"]))

    def resolve(self, mode: str, dtype: np.dtype) -> str:
        """``fixed`` or ``percentile`` for ``mode`` (one of :data:`MODES`) and the input dtype."""
        if mode not in MODES:
            raise ValueError(f"intensity mode must be one of {MODES}, got {mode!r}")
        if mode == "auto":
            return "fixed" if np.dtype(dtype) == np.uint8 else "percentile"
        return mode

    def window(self, mode: str, dtype: np.dtype, samples: Iterable[np.ndarray] = ()) -> tuple[float, float]:
        """The raw values ``(a, b)`` that map to 0 and 1.

        Args:
            mode: one of :data:`MODES`.
            dtype: the input's data type (for ``auto``).
            samples: arrays of input voxels (e.g. a few slices) to take percentiles of; needed
                only in ``percentile`` mode.

        Raises:
            ValueError: no samples, non-finite values, or no contrast between the percentiles.
        """
        if self.resolve(mode, dtype) == "fixed":
            return float(self.fixed_range[0]), float(self.fixed_range[1])
        values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in samples] or [np.empty(0)])
        if values.size == 0:
            raise ValueError("no voxels to take percentiles of")
        if not np.isfinite(values).all():
            raise ValueError("the image holds NaN or infinite values")
        p_low, p_high = np.percentile(values, self.percentiles)
        if not p_high > p_low:
            raise ValueError(f"no contrast: the {self.percentiles[0]:g} and {self.percentiles[1]:g} "
                             f"percentiles are both {p_low:g}")
        t_low, t_high = self.targets
        scale = (p_high - p_low) / (t_high - t_low)  # raw units per unit of [0, 1]
        return float(p_low - t_low * scale), float(p_low + (1.0 - t_low) * scale)


def to_uint8(array: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """``array`` mapped linearly from ``window`` to 0-255, clipped and rounded to uint8 levels
    (NaN becomes 0)."""
    low, high = window
    scaled = (np.asarray(array, dtype=np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def sample_indices(count: int) -> np.ndarray:
    """Indices of up to :data:`PERCENTILE_SAMPLE_SLICES` evenly spaced slices out of ``count``."""
    return np.unique(np.linspace(0, count - 1, min(PERCENTILE_SAMPLE_SLICES, count)).round().astype(int))


class MapIntensityd(MapTransform):
    """MONAI dictionary transform: a model's :class:`IntensityMapping`, output level / 255.

    Args:
        keys: image keys.
        metadata: the bundle's ``metadata.json`` (path or loaded dictionary).
        mode: ``auto``, ``fixed`` or ``percentile``.

    Input: channel-first ``(1, x, y[, z])`` arrays as MONAI loads NIfTI; load them with
    ``LoadImaged(dtype=None)`` so that ``auto`` sees 8-bit files as 8-bit. Output: float32 in
    [0, 1] with the input's metadata. Percentiles come from the slices along the last axis (z).
    """

    def __init__(self, keys: KeysCollection, metadata: str | os.PathLike | dict, mode: str = "auto",
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mapping = IntensityMapping.from_metadata(load_metadata(metadata))
        self.mode = mode

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            array = np.asarray(d[key].detach().cpu() if isinstance(d[key], torch.Tensor) else d[key])
            samples = [array[..., sample_indices(array.shape[-1])]] if array.ndim == 4 else [array]
            window = self.mapping.window(self.mode, array.dtype, samples)
            levels = to_uint8(array, window).astype(np.float32) / np.float32(255)
            d[key] = convert_to_dst_type(levels, d[key], dtype=torch.float32)[0]
        return d
