"""Load a trained segmentation model with what inference needs to know about it.

A model is a MONAI bundle: ``configs/metadata.json`` (class names, channels, and the
``intensity_mapping`` of :mod:`catseg3d.transforms.intensity`) and ``models/model.pt``, a flat
state_dict of :class:`catseg3d.networks.PaperUNet`. The network's dimensionality, width and depth
are read from the weights' shapes, so 2D and 3D models and narrower variants load alike.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from catseg3d.transforms.intensity import IntensityMapping
from catseg3d.io.errors import InputError
from catseg3d.networks import PaperUNet

DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "bundle"


@dataclass
class SegmentationModel:
    """A network in eval mode and its data format.

    Attributes:
        network: logits ``(B, num_classes, *spatial)`` from ``(B, 1, *spatial)`` inputs in [0, 1],
            spatial axes in MONAI's NIfTI order (``(x, y)`` or ``(x, y, z)``).
        spatial_dims: 2 (applied slice by slice) or 3.
        class_names: one name per output channel.
        intensity: how raw intensities become the network's input.
        size_multiple: every spatial size fed to the network must be a multiple of this.
        path: the weights file.
    """

    network: nn.Module
    spatial_dims: int
    class_names: tuple[str, ...]
    intensity: IntensityMapping
    size_multiple: int
    path: Path

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def paper_unet_from_state_dict(state: dict[str, torch.Tensor], path) -> PaperUNet:
    """A :class:`PaperUNet` shaped like ``state`` with its weights loaded.

    Raises:
        InputError: ``state`` is not the state_dict of a PaperUNet.
    """
    try:
        depth = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("down."))
        features = [state[f"down.{level}.0.weight"].shape[0] for level in range(depth)]
        first, head = state["down.0.0.weight"], state["head.weight"]
        network = PaperUNet(head.ndim - 2, first.shape[1], head.shape[0], features)
        network.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as error:
        raise InputError(path, f"not the weights of a catseg3d PaperUNet ({str(error).splitlines()[0]})") from error
    return network


def _bundle_paths(path: Path) -> tuple[Path, Path]:
    """``(weights, metadata)`` of a bundle folder or of a weights file in its ``models/`` folder."""
    weights = path / "models" / "model.pt" if path.is_dir() else path
    metadata = weights.parent.parent / "configs" / "metadata.json"
    return weights, metadata


def load_segmentation_model(path: str | os.PathLike | None = None) -> SegmentationModel:
    """Load a bundle folder, or a ``.pt`` file inside a bundle's ``models/`` folder.

    Args:
        path: the bundle or weights file; default the repository's ``bundle/``.

    Raises:
        InputError: a missing or unreadable file, weights that are not a PaperUNet, metadata that
            lacks a field or disagrees with the weights, or a network that does not take one
            input channel (a tomogram has one).
    """
    weights, metadata_path = _bundle_paths(Path(path) if path is not None else DEFAULT_BUNDLE)
    if not weights.is_file():
        raise InputError(weights, "no such model file")
    if not metadata_path.is_file():
        raise InputError(weights, f"no bundle metadata at {metadata_path} (a model must sit in a "
                                  "bundle's models/ folder)")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(weights, f"cannot load model weights ({str(error).splitlines()[0]})") from error
    if not isinstance(state, dict):
        raise InputError(weights, f"expected a state_dict, got {type(state).__name__}")
    network = paper_unet_from_state_dict(state, weights)
    try:
        metadata = json.loads(metadata_path.read_text())
        intensity = IntensityMapping.from_metadata(metadata)
        formats = metadata["network_data_format"]
        in_channels = formats["inputs"]["image"]["num_channels"]
        channel_def = formats["outputs"]["pred"]["channel_def"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise InputError(metadata_path, f"bad bundle metadata ({type(error).__name__}: {error})") from error
    first, head = state["down.0.0.weight"], state["head.weight"]
    if first.shape[1] != 1:
        raise InputError(weights, f"the network takes {first.shape[1]} input channels; a tomogram has 1")
    if (in_channels, len(channel_def)) != (first.shape[1], head.shape[0]):
        raise InputError(metadata_path, f"metadata says {in_channels} input channels and {len(channel_def)} "
                                        f"classes, the weights have {first.shape[1]} and {head.shape[0]}")
    class_names = tuple(str(channel_def[str(c)]) for c in range(head.shape[0]))
    return SegmentationModel(network.eval(), network.spatial_dims, class_names, intensity,
                             network.size_multiple, weights)
