"""A fine-tuning dataset from a user's images and (sparse) labels.

Every labelled slice of every image (a 2D image is one slice; in a volume, slices along any of
the three axes) becomes one training item: the image slice mapped to 8 bits with the parent
model's intensity mapping, and its labels with :data:`~catseg3d.io.labels.UNLABELLED` (255)
wherever no class is given. Some labelled pixels are held out for validation, in square blocks:
each item's validation label keeps only the held-out blocks and its training label the rest, so
that even two labelled slices give both a training and a validation signal. Slices of different
pixel sizes (two images, or two planes of an anisotropic volume) are enlarged to the finest
(:func:`common_pixel_size`), which the fine-tuned model records as its pixel size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from catseg3d.inferers.pixel_size import MAX_UPSAMPLING
from catseg3d.inferers.resampling import resampled_shape, resize_probabilities
from catseg3d.io.datalist import write_datalist
from catseg3d.io.errors import InputError
from catseg3d.io.jsonfile import write_json
from catseg3d.io.labels import UNLABELLED
from catseg3d.io.nifti import write_nifti
from catseg3d.io.volume import Volume
from catseg3d.transforms.intensity import IntensityMapping, sample_indices, to_uint8

FINETUNE_RECORD = "finetune.json"
SPACING_TOLERANCE = 0.03  # slices whose pixel sizes differ by more than 3 % are resampled to one
MAX_SLICES = 2000


@dataclass(frozen=True)
class SliceOf:
    """Where a labelled slice lies: the pair it comes from, the axis (0 z, 1 y, 2 x; 0 for a 2D
    image) and the index along that axis (0 for a 2D image)."""

    pair: int
    axis: int
    index: int


@dataclass
class FinetuneData:
    """What :func:`prepare_finetune_dataset` wrote.

    Attributes:
        folder: the dataset folder (``datalist.json``, one NIfTI image and two label files per
            item, ``finetune.json``).
        slices: where each item comes from.
        spacing_nm: the pixel size of the slices, ``(y, x)`` of each slice, in nm (see
            :func:`common_pixel_size`).
        labelled_pixels: labelled pixels per class over all items (training and validation).
        training_pixels / validation_pixels: labelled pixels in each role.
        mapping: the model's intensity mapping for the user's images: the parent's where every
            image was mapped by its percentiles (so that segmenting a fine-tuning image maps it
            exactly as training did), else ``fixed`` 0-255 with the percentile targets fitted to
            the 8-bit sample slices of the images (for later inputs that are not 8-bit).
        windows: the intensity window each image was mapped with.
        resampled_slices: slices resampled to ``spacing_nm`` (their pixel size differed).
    """

    folder: Path
    slices: list[SliceOf]
    spacing_nm: tuple[float, float]
    labelled_pixels: dict[int, int]
    training_pixels: int
    validation_pixels: int
    mapping: IntensityMapping
    windows: list[tuple[float, float]] = field(default_factory=list)
    resampled_slices: int = 0


def labelled_slices(labels: np.ndarray, max_slices: int = MAX_SLICES) -> list[tuple[int, int]]:
    """``(axis, index)`` of the slices that together hold every labelled voxel of ``labels``.

    Greedy: the slice (along any axis) holding the most labelled voxels not yet covered is taken
    first, until none is left. Whole slices labelled in one or several planes come out as those
    slices; boxes and strokes within slices come out as the slices they were drawn in.

    Args:
        labels: ``(z, y, x)`` class indices, :data:`UNLABELLED` where none is given.

    Raises:
        ValueError: more than ``max_slices`` slices would be needed (labels spread through the
            volume rather than drawn in slices).
    """
    remaining = labels != UNLABELLED
    chosen: list[tuple[int, int]] = []
    while remaining.any():
        counts = [remaining.sum(axis=tuple(a for a in range(3) if a != axis)) for axis in range(3)]
        axis = int(np.argmax([c.max() for c in counts]))
        index = int(np.argmax(counts[axis]))
        chosen.append((axis, index))
        if len(chosen) > max_slices:
            raise ValueError(f"labels spread over more than {max_slices} slices; label a few slices")
        np.moveaxis(remaining, axis, 0)[index] = False
    return sorted(chosen)


def _slice(array: np.ndarray, axis: int, index: int) -> np.ndarray:
    return np.ascontiguousarray(np.take(array, index, axis=axis))


def _holdout_blocks(labels: Sequence[np.ndarray], block: int, fraction: float, seed: int) -> list[np.ndarray]:
    """Per item, a boolean ``(y, x)`` mask of the pixels held out for validation.

    The labelled squares of all items (``block`` pixels, or a quarter of an item's shorter side if
    that is smaller, at least 8) are pooled and ``fraction`` of them (at least one, and at least one
    left for training, where there are two or more) are drawn with ``seed``: first one square for
    each class found in two or more squares, so that validation sees every class it can, then
    the rest at random.
    """
    squares = []  # (item, y, x, size, classes)
    for item, label in enumerate(labels):
        size = max(8, min(block, min(label.shape) // 4))
        for y in range(0, label.shape[0], size):
            for x in range(0, label.shape[1], size):
                classes = set(np.unique(label[y:y + size, x:x + size]).tolist()) - {UNLABELLED}
                if classes:
                    squares.append((item, y, x, size, classes))
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation(len(squares))]
    held: list[int] = []
    if len(squares) >= 2:
        count = min(len(squares) - 1, max(1, int(round(fraction * len(squares)))))
        for c in sorted(set().union(*(square[4] for square in squares))):
            having = [i for i in order if c in squares[i][4]]
            if len(having) >= 2 and not any(c in squares[i][4] for i in held) and len(held) < count:
                held.append(having[0])
        held += [i for i in order if i not in held][:count - len(held)]
    masks = [np.zeros(label.shape, bool) for label in labels]
    for i in held:
        item, y, x, size, _ = squares[i]
        masks[item][y:y + size, x:x + size] = True
    return masks


def prepare_finetune_dataset(images: Sequence[Volume], labels: Sequence[Volume], names: Sequence[str],
                             folder: str | os.PathLike, mapping: IntensityMapping, num_classes: int,
                             intensity_mode: str = "auto", crop_size: int = 256, size_multiple: int = 64,
                             holdout: float = 0.2, block: int = 64, seed: int = 0) -> FinetuneData:
    """Write the labelled slices of ``images`` as a MONAI dataset folder for fine-tuning.

    Args:
        images: the images or volumes (any dtype; 2D ``(y, x)`` or 3D ``(z, y, x)``).
        labels: one label image per image, of its shape and spacing: class indices
            ``0..num_classes-1`` and :data:`UNLABELLED` (255) where no class is given.
        names: one name per pair for messages (the label file names).
        folder: the dataset folder to write (created).
        mapping: the parent model's intensity mapping; ``intensity_mode`` as in ``catseg3d
            segment`` (``auto``: 8-bit images as they are, others by percentiles).
        num_classes: the number of classes of the model to train.
        crop_size: slices smaller than this are padded to it (images mirrored, labels 255).
        size_multiple: slices are padded likewise to a multiple of this (the network's down-sampling
            factor), so that validation runs each slice whole.
        holdout: fraction of labelled ``block`` x ``block`` squares held out for validation (smaller
            squares in slices shorter than ``4 * block``), every class in it where possible.
        seed: seed of the held-out squares.

    Raises:
        InputError: a pair whose shapes or spacings differ, label values other than
            ``0..num_classes-1`` and 255, no labelled pixel, slices more than 4x apart in pixel size, or
            an image that the intensity mapping cannot map (no contrast, NaN).
    """
    if not (len(images) == len(labels) == len(names)) or not images:
        raise ValueError("give one label image per image")
    folder = Path(folder)
    items, slices, windows, spacings, mapped_samples, modes = [], [], [], [], [], set()
    for pair, (image, label, name) in enumerate(zip(images, labels, names)):
        if image.array.shape != label.array.shape:
            raise InputError(name, f"labels of shape {label.array.shape} for an image of shape {image.array.shape}")
        if not np.allclose(image.spacing, label.spacing, rtol=1e-3):
            raise InputError(name, f"labels with voxel size {_size(label.spacing)} nm for an image of "
                                   f"{_size(image.spacing)} nm")
        values = np.unique(label.array)
        bad = [int(v) for v in values if not (v == UNLABELLED or (0 <= v < num_classes and float(v).is_integer()))]
        if bad:
            raise InputError(name, f"label values {bad[:5]} are neither classes 0..{num_classes - 1} nor "
                                   f"{UNLABELLED} (unlabelled)")
        array = image.array
        samples = [array] if array.ndim == 2 else [array[i] for i in sample_indices(array.shape[0])]
        try:
            window = mapping.window(intensity_mode, array.dtype, samples)
        except ValueError as error:
            raise InputError(name, f"cannot map the image's intensities: {error}") from error
        windows.append(window)
        modes.add(mapping.resolve(intensity_mode, array.dtype))
        mapped_samples += [to_uint8(sample, window) for sample in samples]
        label_array = label.array.astype(np.uint8) if label.array.dtype != np.uint8 else label.array
        where = [(0, 0)] if array.ndim == 2 else labelled_slices(label_array)
        for axis, index in where:
            image_slice = to_uint8(array if array.ndim == 2 else _slice(array, axis, index), window)
            label_slice = label_array if array.ndim == 2 else _slice(label_array, axis, index)
            spacing = tuple(s for a, s in enumerate(image.spacing) if a != axis) if array.ndim == 3 else image.spacing
            if (label_slice != UNLABELLED).any():
                items.append((image_slice, label_slice))
                slices.append(SliceOf(pair, axis, index))
                spacings.append(spacing)
    if not items:
        raise InputError(names[0] if len(names) == 1 else "labels", f"no labelled pixel (every pixel is {UNLABELLED})")
    reference = common_pixel_size(spacings)
    for spacing, where in zip(spacings, slices):
        if max(s / r for s, r in zip(spacing, reference)) > MAX_UPSAMPLING * (1 + SPACING_TOLERANCE):
            raise InputError(names[where.pair], f"labelled slices of pixel size {_size(spacing)} nm and "
                                                f"{_size(reference)} nm: more than {MAX_UPSAMPLING:g}x apart; "
                                                "label slices of one plane, or images of closer pixel sizes")
    resampled = sum(not np.allclose(spacing, reference, rtol=SPACING_TOLERANCE) for spacing in spacings)
    items = [(image, label) if np.allclose(spacing, reference, rtol=SPACING_TOLERANCE)
             else resampled_slice(image, label, spacing, reference) for (image, label), spacing in zip(items, spacings)]
    items = [_padded(image, label, crop_size, size_multiple) for image, label in items]
    held = _holdout_blocks([label for _, label in items], block, holdout, seed)
    folder.mkdir(parents=True, exist_ok=True)
    datalist = {"training": [], "validation": []}
    counts = {c: 0 for c in range(num_classes)}
    roles = {"training": 0, "validation": 0}
    for k, ((image, label), validation_mask) in enumerate(zip(items, held)):
        for c in range(num_classes):
            counts[c] += int((label == c).sum())
        spacing = tuple(float(s) for s in reference)
        write_nifti(Volume(image, spacing), folder / f"slice_{k:03d}_image.nii.gz")
        for role, keep in (("training", ~validation_mask), ("validation", validation_mask)):
            part = np.where(keep, label, UNLABELLED).astype(np.uint8)
            if (part != UNLABELLED).any():
                write_nifti(Volume(part, spacing), folder / f"slice_{k:03d}_{role}_label.nii.gz")
                datalist[role].append({"image": f"slice_{k:03d}_image.nii.gz",
                                       "label": f"slice_{k:03d}_{role}_label.nii.gz"})
                roles[role] += int((part != UNLABELLED).sum())
    if not datalist["validation"]:  # one labelled square in all: validate on the training pixels
        datalist["validation"] = list(datalist["training"])
    fitted = mapping if modes == {"percentile"} else IntensityMapping.fit(mapped_samples, percentiles=mapping.percentiles)
    data = FinetuneData(folder, slices, tuple(float(s) for s in reference), counts, roles["training"],
                        roles["validation"], fitted, windows, resampled)
    write_datalist(datalist, folder / "datalist.json")
    write_json(folder / FINETUNE_RECORD, record_of(data, names))
    return data


def common_pixel_size(spacings: Sequence[Sequence[float]]) -> tuple[float, float]:
    """The ``(y, x)`` pixel size in nm that labelled slices are trained at: theirs where all share
    one (within :data:`SPACING_TOLERANCE`), else the finest size over all slices and axes, square
    (every slice is then enlarged to it; none loses detail)."""
    first = np.asarray(spacings[0], dtype=float)
    if all(np.allclose(spacing, first, rtol=SPACING_TOLERANCE) for spacing in spacings):
        return float(first[0]), float(first[1])
    finest = float(min(min(spacing) for spacing in spacings))
    return finest, finest


def resampled_slice(image: np.ndarray, label: np.ndarray, spacing: Sequence[float],
                    target: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """A labelled ``(y, x)`` slice brought from pixel size ``spacing`` to ``target`` (nm): the
    8-bit image as ``segment`` resamples an input (bilinear, anti-aliased where it shrinks,
    :func:`~catseg3d.inferers.resampling.resize_probabilities`), the labels (255 included) by
    nearest neighbour at pixel centres."""
    shape = resampled_shape(image.shape, [s / t for s, t in zip(spacing, target)])
    resized = resize_probabilities(torch.from_numpy(image.astype(np.float32))[None, None], shape)[0, 0]
    labels = F.interpolate(torch.from_numpy(label.astype(np.float32))[None, None], size=shape,
                           mode="nearest-exact")[0, 0]
    return (resized.round().clamp(0, 255).numpy().astype(np.uint8), labels.numpy().astype(np.uint8))


def _size(spacing: Sequence[float]) -> str:
    """A voxel size for messages: ``0.3 x 0.3`` (4 significant digits, no float32 tails)."""
    return " x ".join(f"{float(v):.4g}" for v in spacing)


def _padded(image: np.ndarray, label: np.ndarray, size: int, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` mirrored and ``label`` padded with 255 to at least ``size`` x ``size`` and to a
    multiple of ``multiple`` (so that the network takes the whole slice)."""
    pad = [(0, -(-max(size, n) // multiple) * multiple - n) for n in image.shape]
    if not any(after for _, after in pad):
        return image, label
    return (np.pad(image, pad, mode="symmetric"), np.pad(label, pad, constant_values=UNLABELLED))


def record_of(data: FinetuneData, names: Sequence[str]) -> dict:
    """The ``finetune.json`` record: labelled pixels, slices, pixel size and intensity mapping."""
    return {"labels": list(names),
            "slices": [{"labels": names[s.pair], "axis": "zyx"[s.axis], "index": s.index} for s in data.slices],
            "spacing_nm": list(data.spacing_nm), "resampled_slices": data.resampled_slices,
            "labelled_pixels": {str(c): n for c, n in data.labelled_pixels.items()},
            "training_pixels": data.training_pixels, "validation_pixels": data.validation_pixels,
            "intensity_windows": [list(w) for w in data.windows],
            "intensity_mapping": data.mapping.as_metadata()}
