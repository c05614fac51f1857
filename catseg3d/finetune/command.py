"""``catseg3d finetune``: images and labels in, a fine-tuned bundle out, through the bundle's workflow."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from catseg3d.engines.checkpoints import latest_checkpoint
from catseg3d.finetune.dataset import FINETUNE_RECORD, prepare_finetune_dataset
from catseg3d.finetune.workflow import from_scratch
from catseg3d.inference.model import default_bundle, load_segmentation_model
from catseg3d.io.errors import InputError
from catseg3d.io.readers import read_volume
from catseg3d.io.volume import agree_on_units

DATASET_FOLDER = "dataset"  # the prepared slices, kept in the output bundle


@dataclass(frozen=True)
class FinetuneResult:
    """Where the fine-tuned bundle is and what it was trained on."""

    bundle: Path
    labelled_pixels: int
    slices: int
    class_names: tuple[str, ...]

    def line(self) -> str:
        return (f"{self.bundle}: fine-tuned on {self.labelled_pixels} labelled pixels in {self.slices} slice(s); "
                f"classes {', '.join(self.class_names)}; segment with catseg3d segment --model {self.bundle}")


def finetune(images: Sequence[str | os.PathLike], labels: Sequence[str | os.PathLike], out: str | os.PathLike,
             model: str | os.PathLike | None = None, minutes: float = 10.0, spacing: float | None = None,
             classes: Sequence[str] | None = None, intensity: str = "auto", resume: bool = False, seed: int = 0,
             overrides: dict | None = None, report: Callable[[str], None] | None = None) -> FinetuneResult:
    """Fine-tune a bundle's network on labelled slices and write the result as a bundle ``out``.

    Args:
        images: image files or volumes (anything ``catseg3d convert`` reads).
        labels: one label file per image, of its shape and pixel size: class indices, and 255 where
            a pixel is not labelled (a few slices of a volume, boxes or strokes).
        out: the bundle to write (``configs/``, ``models/model.pt``, ``dataset/``, ``logs/``).
        model: the parent bundle (default: the shipped model); ``"none"``: train from scratch.
        minutes: minutes of compute to train (CPU time / threads).
        spacing: pixel size in nm for files that do not record one.
        classes: class names in channel order (default: the parent's); another number of classes
            replaces the output layer.
        intensity: how raw intensities are mapped (``auto``, ``fixed``, ``percentile``).
        resume: continue an interrupted fine-tuning of ``out`` from its newest checkpoint.
        overrides: further bundle settings (e.g. ``{"crop_size": [128, 128]}``).
        report: called with one line of progress news (e.g. ``print``).

    Raises:
        InputError: unreadable or mismatched inputs, an ``out`` that holds a model (unless
            resuming), or a bad parent bundle.
    """
    from monai.bundle import run as run_bundle

    say = report or (lambda line: None)
    out = Path(out)
    if not minutes > 0:
        raise InputError("--minutes", f"must be positive, got {minutes}")
    if len(images) != len(labels) or not images:
        raise InputError("--labels", f"give one label file per image ({len(images)} images, {len(labels)} labels)")
    if not resume and latest_checkpoint(out / "models") is not None:
        raise InputError(out, "holds a fine-tuning run; continue it with --resume or write to another folder")
    if not resume and (out / "models" / "model.pt").exists():
        raise InputError(out, "holds a model; fine-tune into another folder")
    scratch = model is not None and from_scratch(str(model))
    parent = load_segmentation_model(None if scratch else model)  # the shipped model's mapping from scratch
    parent_bundle = "none" if scratch else str(parent.path.parent.parent)
    class_names = tuple(classes) if classes else parent.class_names
    if len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise InputError("--classes", f"need two or more distinct class names, got {list(class_names)}")
    if not scratch and len(class_names) != parent.num_classes:
        say(f"{len(class_names)} classes instead of the parent's {parent.num_classes}: the output layer is replaced")
    dataset = out / DATASET_FOLDER
    if not resume:
        image_volumes = [read_volume(path, fallback_spacing=spacing) for path in images]
        pairs = [agree_on_units(image, read_volume(path, fallback_spacing=image.spacing))
                 for path, image in zip(labels, image_volumes)]
        image_volumes, label_volumes = [image for image, _ in pairs], [label for _, label in pairs]
        crop = (overrides or {}).get("crop_size", [256, 256])
        data = prepare_finetune_dataset(image_volumes, label_volumes, [str(p) for p in labels], dataset,
                                        parent.intensity, len(class_names), intensity, crop_size=max(crop),
                                        size_multiple=parent.size_multiple, seed=seed)
        resampled = f" ({data.resampled_slices} resampled to it)" if data.resampled_slices else ""
        say(f"{dataset}: {len(data.slices)} labelled slice(s) at {data.spacing_nm[0]:g} x {data.spacing_nm[1]:g} nm"
            f"{resampled}, {data.training_pixels} pixels to train on, {data.validation_pixels} held out")
    configs = default_bundle() / "configs"
    settings = {"dataset_dir": str(dataset), "bundle_root": str(out), "configs_dir": str(configs),
                "parent_bundle": parent_bundle, "class_names": list(class_names), "time_limit_minutes": minutes,
                "resume": resume, "seed": seed, **(overrides or {})}
    run_bundle("training", config_file=[str(configs / "train.yaml"), str(configs / "finetune.yaml")],
               meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"), **settings)
    record = json.loads((dataset / FINETUNE_RECORD).read_text())
    return FinetuneResult(out, int(sum(record["labelled_pixels"].values())), len(record["slices"]), class_names)
