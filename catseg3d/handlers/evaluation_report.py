"""An Ignite handler that turns a MONAI evaluator's run into an evaluation report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from ignite.engine import Engine, Events
from monai.data import MetaTensor

from catseg3d.io.axes import from_monai
from catseg3d.io.errors import InputError
from catseg3d.io.nifti import loaded_spacing_nm
from catseg3d.io.volume import spacing_of_image
from catseg3d.metrics.evaluation import Evaluation
from catseg3d.metrics.hausdorff import PERCENTILES
from catseg3d.metrics.paper import CLASS_NAMES
from catseg3d.metrics.report import write_report


def class_indices(labels) -> np.ndarray:
    """``(C, *spatial)`` one-hot or logits -> argmax; ``(1, *spatial)`` indices -> squeezed."""
    array = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
    return array.argmax(0) if array.shape[0] > 1 else array[0].astype(np.int64)


class EvaluationReportHandler:
    """Score every item a ``SupervisedEvaluator`` produces and write the report when it completes.

    Expects decollated outputs with ``pred`` (``(C, *spatial)`` logits/one-hot), ``label``
    (one-hot or indices; a ``MetaTensor`` whose affine and header unit give the spacing, and whose
    ``filename_or_obj`` names the image) and ``image``. MONAI arrays of NIfTI files are in NIfTI
    ``(x, y[, z])`` order; they are reversed into catseg3d's ``(y, x)``/``(z, y, x)`` order.

    Args:
        output_dir: where :func:`catseg3d.metrics.report.write_report` writes.
        class_names: the classes, background first.
        percentiles: robust-Hausdorff percentiles.
        keep_images: keep 2D images for the worst-images figure.
    """

    def __init__(self, output_dir: str | os.PathLike, class_names: Sequence[str] = CLASS_NAMES,
                 percentiles: Sequence[float] = PERCENTILES, keep_images: bool = True) -> None:
        self.output_dir = Path(output_dir)
        self.class_names = tuple(class_names)
        self.percentiles = tuple(percentiles)
        self.keep_images = keep_images
        self.evaluation = Evaluation(self.class_names, self.percentiles)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def reset(self, engine: Engine) -> None:
        self.evaluation = Evaluation(self.class_names, self.percentiles)

    def collect(self, engine: Engine) -> None:
        for item in engine.state.output:
            label = item["label"]
            ndim = label.ndim - 1
            spacing = loaded_spacing_nm(label, ndim)
            loaded_image = item.get("image")
            if isinstance(loaded_image, MetaTensor) and loaded_image.meta.get("filename_or_obj"):
                try:  # a label file an ITK editor saved as mm: the image's voxel size
                    spacing = spacing_of_image(spacing, loaded_spacing_nm(loaded_image, ndim))
                except InputError:
                    pass  # an image of no voxel size: the labels' own
            name = Path(str(label.meta.get("filename_or_obj", f"image_{len(self.evaluation.scores)}"))).name
            image = from_monai(item["image"][0].detach().cpu().numpy()) if self.keep_images else None
            self.evaluation.add(name, from_monai(class_indices(item["pred"])), from_monai(class_indices(label)),
                                spacing, image)

    def write(self, engine: Engine) -> None:
        write_report(self.evaluation, self.output_dir)
