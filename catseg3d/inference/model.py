"""Load a trained segmentation model with what inference needs to know about it.

A model is a MONAI bundle: ``configs/metadata.json`` (class names, channels, and the
``intensity_mapping`` of :mod:`catseg3d.transforms.intensity`) and ``models/model.pt``, a flat
state_dict of :class:`catseg3d.networks.PaperUNet` (or its TorchScript ``model.ts`` or ONNX
``model.onnx`` exports). The network's dimensionality, width and depth are read from the weights'
shapes, so 2D and 3D models and narrower variants load alike.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from catseg3d.engines.checkpoints import trained_state
from catseg3d.engines.run_folder import METADATA_3D
from catseg3d.io.errors import InputError
from catseg3d.io.metadata import metadata_spacing_nm
from catseg3d.networks import PaperUNet, paper_unet_features
from catseg3d.transforms.intensity import IntensityMapping

BUNDLE_ENV = "CATSEG3D_BUNDLE"


def default_bundle() -> Path:
    """The bundle ``catseg3d segment`` uses without ``--model``, the first that exists of:

    1. the folder named by the environment variable ``CATSEG3D_BUNDLE``;
    2. ``bundle/`` of the source tree this package runs from (a checkout, ``pip install -e .``);
    3. the shipped bundle installed with the package, ``<prefix>/share/catseg3d/bundle``
       (``<prefix>``: the environment's, e.g. the virtual environment, or the user base of
       ``pip install --user``).

    Returns the first candidate if none exists (the caller reports it missing).
    """
    import site
    import sys

    candidates = [Path(os.environ[BUNDLE_ENV])] if os.environ.get(BUNDLE_ENV) else []
    source_tree = Path(__file__).resolve().parents[2]
    if (source_tree / "pyproject.toml").is_file():
        candidates.append(source_tree / "bundle")
    for prefix in (sys.prefix, site.getuserbase()):
        candidates.append(Path(prefix) / "share" / "catseg3d" / "bundle")
    return next((c for c in candidates if (c / "configs" / "metadata.json").is_file()), candidates[0])


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
        runtime: ``pytorch``, ``torchscript`` or ``onnx``.
        spacing_nm: the pixel (voxel) size the network was trained at, numpy order (``(y, x)`` or
            ``(z, y, x)``), from the metadata's ``network_data_format.inputs.image.spacing_nm``;
            None if the metadata does not say.
    """

    network: nn.Module
    spatial_dims: int
    class_names: tuple[str, ...]
    intensity: IntensityMapping
    size_multiple: int
    path: Path
    runtime: str = "pytorch"
    spacing_nm: tuple[float, ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def paper_unet_from_state_dict(state: dict[str, torch.Tensor], path) -> PaperUNet:
    """A :class:`PaperUNet` shaped like ``state`` with its weights loaded.

    Raises:
        InputError: ``state`` is not the state_dict of a PaperUNet.
    """
    try:
        first, head = state["down.0.0.weight"], state["head.weight"]
        network = PaperUNet(head.ndim - 2, first.shape[1], head.shape[0], paper_unet_features(state))
        network.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as error:
        raise InputError(path, f"not the weights of a catseg3d PaperUNet ({str(error).splitlines()[0]})") from error
    return network


class OnnxNetwork(nn.Module):
    """An ONNX model run by onnxruntime, called like the PyTorch network (float32 on the CPU)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0]).to(x.device)


def read_metadata(path: Path, spatial_dims: int) -> dict:
    """A bundle's ``metadata.json``, for a 3D network merged with ``metadata_3d.json`` beside it
    (if there is one) as ``python -m monai.bundle ... --meta_file "[metadata.json, metadata_3d.json]"``
    merges them."""
    from monai.bundle import ConfigParser

    overrides = path.parent / METADATA_3D
    files = [str(path), str(overrides)] if spatial_dims == 3 and overrides.is_file() else [str(path)]
    return ConfigParser.load_config_files(files)


def _bundle_paths(path: Path) -> tuple[Path, Path]:
    """``(weights, metadata)`` of a bundle folder or of a model file in its ``models/`` folder.

    A folder's weights are ``models/model.pt``, or ``models_3d/model.pt`` in a run folder that
    ``train_3d.yaml`` alone trained (one holding both takes the 2D model; name the file for the 3D one).
    """
    if path.is_dir():
        weights = path / "models" / "model.pt"
        volumetric = path / "models_3d" / "model.pt"
        if not weights.is_file() and volumetric.is_file():
            weights = volumetric
    else:
        weights = path
    metadata = weights.parent.parent / "configs" / "metadata.json"
    return weights, metadata


def _load_network(weights: Path) -> tuple[nn.Module, str, tuple[int, int, int]]:
    """The network in ``weights``, its runtime and ``(spatial_dims, in_channels, classes)``."""
    suffix = weights.suffix.lower()
    try:
        if suffix == ".onnx":
            network = OnnxNetwork(weights)
            shape_in = network.session.get_inputs()[0].shape
            shape_out = network.session.get_outputs()[0].shape
            return network, "onnx", (len(shape_in) - 2, int(shape_in[1]), int(shape_out[1]))
        if suffix == ".ts":
            network = torch.jit.load(weights, map_location="cpu")
            state = network.state_dict()
            runtime = "torchscript"
            if "head.weight" not in state or not hasattr(network, "size_multiple"):
                raise InputError(weights, "not a TorchScript export of a catseg3d PaperUNet")
        else:
            state = trained_state(weights)
            network = paper_unet_from_state_dict(state, weights)
            runtime = "pytorch"
    except InputError:
        raise
    except ImportError as error:
        raise InputError(weights, f"{error.name} is needed to run {suffix} models: pip install "
                                  "'catseg3d[export]'") from error
    except Exception as error:
        raise InputError(weights, f"cannot load model weights ({str(error).splitlines()[0]})") from error
    first, head = state["down.0.0.weight"], state["head.weight"]
    return network, runtime, (head.ndim - 2, first.shape[1], head.shape[0])


def size_multiple_of(spatial_shape: list) -> int:
    """32 for a metadata ``spatial_shape`` entry like ``"32*n"`` (1 for a fixed integer size)."""
    entry = spatial_shape[0]
    return int(str(entry).split("*")[0]) if isinstance(entry, str) else 1


def load_segmentation_model(path: str | os.PathLike | None = None) -> SegmentationModel:
    """Load a bundle folder, or a model file inside a bundle's ``models/`` folder.

    Model files: ``.pt`` (a PaperUNet state_dict, float32 or float16), ``.ts`` (TorchScript, from
    ``monai.bundle ckpt_export``) or ``.onnx`` (from ``monai.bundle onnx_export``; run by
    onnxruntime in float32).

    Args:
        path: the bundle or model file; default :func:`default_bundle`.

    Raises:
        InputError: a missing or unreadable file, weights that are not a PaperUNet, metadata that
            lacks a field or disagrees with the network, or a network that does not take one
            input channel (a tomogram has one).
    """
    weights, metadata_path = _bundle_paths(Path(path) if path is not None else default_bundle())
    if not weights.is_file():
        raise InputError(weights, "no such model file")
    if not metadata_path.is_file():
        raise InputError(weights, f"no bundle metadata at {metadata_path} (a model must sit in a "
                                  "bundle's models/ folder)")
    network, runtime, (spatial_dims, in_channels, classes) = _load_network(weights)
    try:
        metadata = read_metadata(metadata_path, spatial_dims)
        intensity = IntensityMapping.from_metadata(metadata)
        formats = metadata["network_data_format"]
        meta_channels = formats["inputs"]["image"]["num_channels"]
        spatial_shape = formats["inputs"]["image"]["spatial_shape"]
        size_multiple = size_multiple_of(spatial_shape)
        channel_def = formats["outputs"]["pred"]["channel_def"]
        spacing_nm = metadata_spacing_nm(metadata)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as error:
        raise InputError(metadata_path, f"bad bundle metadata ({type(error).__name__}: {error})") from error
    if len(spatial_shape) != spatial_dims:
        raise InputError(metadata_path, f"metadata describes {len(spatial_shape)}D input, the network is "
                                        f"{spatial_dims}D (3D models read {METADATA_3D} beside it)")
    if in_channels != 1:
        raise InputError(weights, f"the network takes {in_channels} input channels; a tomogram has 1")
    if (meta_channels, len(channel_def)) != (in_channels, classes):
        raise InputError(metadata_path, f"metadata says {meta_channels} input channels and {len(channel_def)} "
                                        f"classes, the weights have {in_channels} and {classes}")
    if runtime != "onnx":  # a PaperUNet knows its own down-sampling factor
        size_multiple = int(network.size_multiple)
    if sorted(channel_def) != sorted(str(c) for c in range(classes)):
        raise InputError(metadata_path, f"channel_def keys {sorted(channel_def)} are not 0..{classes - 1}")
    if spacing_nm is not None and (len(spacing_nm) != spatial_dims or min(spacing_nm) <= 0):
        raise InputError(metadata_path, f"spacing_nm {list(spacing_nm)} is not {spatial_dims} positive sizes in nm")
    class_names = tuple(str(channel_def[str(c)]) for c in range(classes))
    return SegmentationModel(network.eval(), spatial_dims, class_names, intensity, size_multiple, weights, runtime,
                             spacing_nm)
