"""The pieces of ``bundle/configs/finetune.yaml``: the parent model's weights, classes and metadata.

A fine-tuning run starts from a parent bundle's network (or from scratch) and trains on a dataset
folder written by :func:`catseg3d.finetune.prepare_finetune_dataset`. Its run folder is a bundle
whose ``configs/metadata.json`` is the parent's, updated with the classes, the pixel size and the
intensity mapping of the user's images, and a ``finetune`` entry: the parent, the labelled pixels
and the minutes of training.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Sequence

from torch import nn

from catseg3d.engines.checkpoints import trained_features, trained_model, trained_state
from catseg3d.engines.run_folder import prepare_run_folder
from catseg3d.finetune.dataset import FINETUNE_RECORD
from catseg3d.io.errors import InputError
from catseg3d.io.jsonfile import write_json
from catseg3d.io.metadata import load_metadata, metadata_class_names

SCRATCH = ("none", "", None)
SCRATCH_FEATURES = [16, 32, 64, 128, 256, 512]  # the half width of configs/train_best.yaml
PAPER_ALPHA = [0.2, 0.3, 0.5]
log = logging.getLogger(__name__)


def from_scratch(parent_bundle) -> bool:
    """True for ``--parent_bundle none``: the network starts from random weights."""
    return parent_bundle in SCRATCH or str(parent_bundle).lower() == "none"


def parent_metadata(parent_bundle, configs_dir: str | os.PathLike) -> dict:
    """The parent bundle's ``configs/metadata.json`` (from scratch: the one in ``configs_dir``)."""
    return load_metadata(Path(configs_dir if from_scratch(parent_bundle) else Path(parent_bundle) / "configs")
                         / "metadata.json")


def parent_class_names(parent_bundle, configs_dir: str | os.PathLike) -> list[str]:
    """The class names of the parent's output channels (its metadata's ``channel_def``)."""
    return metadata_class_names(parent_metadata(parent_bundle, configs_dir))


def class_weights(num_classes: int) -> list[float]:
    """Focal-loss class weights: the paper's for three classes, equal weights otherwise."""
    return list(PAPER_ALPHA) if num_classes == 3 else [1.0 / num_classes] * num_classes


def starting_features(parent_bundle) -> list[int]:
    """The network width: the parent's (read from its weights), or the half width from scratch."""
    if from_scratch(parent_bundle):
        return list(SCRATCH_FEATURES)
    return trained_features(trained_model(Path(parent_bundle) / "models"))


def start_from(network: nn.Module, parent_bundle) -> nn.Module:
    """``network`` with the parent's weights wherever their shapes agree (in place).

    A parent with another number of classes gives every layer but the output layer, which keeps
    its random start; the replaced layers are logged. From scratch the network is returned as it is.
    """
    if from_scratch(parent_bundle):
        log.info("fine-tuning from scratch (no parent model)")
        return network
    path = trained_model(Path(parent_bundle) / "models")
    parent = trained_state(path)
    own = network.state_dict()
    kept = {k: v.to(own[k].dtype) for k, v in parent.items() if k in own and own[k].shape == v.shape}
    replaced = sorted(k for k in own if k not in kept)
    network.load_state_dict(kept, strict=False)
    if replaced:
        log.warning("the parent model has another number of classes: output layer replaced (%s)", ", ".join(replaced))
    log.info("fine-tuning from %s", path)
    return network


def prepare_finetune_folder(run_dir: str | os.PathLike, parent_bundle, configs_dir: str | os.PathLike,
                            class_names: Sequence[str], dataset_dir: str | os.PathLike, resume: bool = False,
                            write: bool = True) -> str:
    """:func:`catseg3d.engines.prepare_run_folder` with the parent's metadata, updated for this run.

    The metadata's output ``channel_def`` holds ``class_names``; ``intensity_mapping`` and the input
    ``spacing_nm`` are the dataset's (``dataset_dir/finetune.json``); ``finetune`` records the
    parent bundle, the labelled pixels per class and in each role, and the labelled slices.
    """
    record_path = Path(dataset_dir) / FINETUNE_RECORD
    try:
        record = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(record_path, f"not a fine-tuning dataset ({error}); write one with catseg3d finetune") \
            from error
    metadata = copy.deepcopy(parent_metadata(parent_bundle, configs_dir))
    pred = metadata["network_data_format"]["outputs"]["pred"]
    pred["channel_def"] = {str(c): str(name) for c, name in enumerate(class_names)}
    pred["num_channels"] = len(class_names)
    metadata["intensity_mapping"] = {**metadata.get("intensity_mapping", {}), **record["intensity_mapping"],
                                     "description": "the fine-tuning images' (catseg3d finetune: the parent's "
                                                    "where they were mapped by percentiles, else fitted to them)"}
    parent = "none" if from_scratch(parent_bundle) else str(Path(parent_bundle).resolve())
    metadata["finetune"] = {"parent": parent, "parent_name": None if parent == "none" else metadata.get("name"),
                            "labelled_pixels": record["labelled_pixels"],
                            "training_pixels": record["training_pixels"],
                            "validation_pixels": record["validation_pixels"], "slices": record["slices"],
                            "resampled_slices": record.get("resampled_slices", 0)}
    metadata["name"] = f"{metadata.get('name', 'catseg3d')}_finetuned"
    return prepare_run_folder(run_dir, metadata, configs_dir, resume, record["spacing_nm"], write)


def record_training(run_dir: str | os.PathLike, trainer, write: bool = True) -> None:
    """Add the epochs and wall-clock minutes of the finished training to the run's metadata."""
    if not write:
        return
    path = Path(run_dir) / "configs" / "metadata.json"
    metadata = json.loads(path.read_text())
    seconds = float(trainer.state.times.get("COMPLETED") or 0.0)
    metadata.setdefault("finetune", {}).update({"epochs": int(trainer.state.epoch), "minutes": round(seconds / 60, 2)})
    write_json(path, metadata)


def labelled_pixel_count(dataset_dir: str | os.PathLike) -> int:
    """All labelled pixels of a fine-tuning dataset."""
    record = json.loads((Path(dataset_dir) / FINETUNE_RECORD).read_text())
    return int(sum(record["labelled_pixels"].values()))

