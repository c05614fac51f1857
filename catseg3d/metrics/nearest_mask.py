"""The floor any segmentation model must clear: copy the mask of the most similar training image.

For each validation image the "nearest training mask" baseline picks the training image with the
highest normalised cross-correlation (:func:`catseg3d.io.regions.normalised_cross_correlation`) and
predicts its label map unchanged. No model is involved: where validation images are neighbouring
slices of training images it scores about as well as a trained network, so a model's score on such
a split says little about unseen data; on folds that hold whole regions out it shows how much the
model adds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from catseg3d.io.regions import normalised_cross_correlation
from catseg3d.metrics.evaluation import Evaluation
from catseg3d.metrics.paper import CLASS_NAMES


@dataclass(frozen=True)
class NearestMask:
    """The baseline's prediction for one query image.

    Attributes:
        labels: the copied label map, the shape of the query.
        index: index of the training image whose mask was copied.
        similarity: its normalised cross-correlation with the query.
    """

    labels: np.ndarray
    index: int
    similarity: float


def nearest_training_masks(training_images: Sequence[np.ndarray], training_labels: Sequence[np.ndarray],
                           query_images: Sequence[np.ndarray]) -> list[NearestMask]:
    """For each query image, the label map of the most similar training image (ties: the first).

    Args:
        training_images, training_labels: paired ``(y, x)`` (or ``(z, y, x)``) arrays.
        query_images: arrays of the training images' shape.

    Raises:
        ValueError: unequal numbers of training images and labels, or a chosen mask whose shape
            differs from its query's.
    """
    if len(training_images) != len(training_labels):
        raise ValueError(f"{len(training_labels)} label maps for {len(training_images)} training images")
    similarity = normalised_cross_correlation(query_images, training_images)
    result = []
    for query, row in zip(query_images, similarity):
        index = int(np.argmax(row))
        labels = np.asarray(training_labels[index])
        if labels.shape != np.shape(query):
            raise ValueError(f"training label map {index} has shape {labels.shape}, the query {np.shape(query)}")
        result.append(NearestMask(labels.copy(), index, float(row[index])))
    return result


def score_nearest_mask(dataset_dir: str | os.PathLike, datalist_file: str = "datalist.json",
                       class_names: tuple[str, ...] = CLASS_NAMES) -> tuple[Evaluation, list[NearestMask]]:
    """Score the baseline on one datalist: the ``training`` items are the masks it may copy, each
    ``validation`` item is predicted and scored (:class:`catseg3d.metrics.Evaluation`, spacing in nm
    from the files; each image named by its label file's name, as the bundle's evaluation names it).

    Returns:
        The evaluation (``.report()``, ``.per_image()``, :func:`catseg3d.metrics.write_report`) and the
        predictions in validation order.
    """
    from pathlib import Path

    from catseg3d.io import read_nifti
    from catseg3d.io.datalist import load_datalist

    def read(items: list[dict]) -> tuple[list, list, list]:
        images = [read_nifti(item["image"]) for item in items]
        return images, [read_nifti(item["label"]).array for item in items], [Path(item["label"]).name for item in items]

    training, training_labels, _ = read(load_datalist(dataset_dir, "training", datalist_file))
    validation, validation_labels, names = read(load_datalist(dataset_dir, "validation", datalist_file))
    predictions = nearest_training_masks([v.array for v in training], training_labels, [v.array for v in validation])
    evaluation = Evaluation(class_names=class_names)
    for name, volume, truth, prediction in zip(names, validation, validation_labels, predictions):
        evaluation.add(name, prediction.labels, truth, volume.spacing, image=volume.array)
    return evaluation, predictions
