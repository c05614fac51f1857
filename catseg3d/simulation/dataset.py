"""The embedded default dataset: simulated tomograms cut into 2D slices, generated once and cached.

``embedded_dataset(folder)`` makes (or finds) ``folder`` with

* ``volumes/volume_NNN/``: the simulator's files (:mod:`catseg3d.simulation.series`) plus
  ``image.nii.gz``, the reconstruction mapped to 8 bits exactly as ``catseg3d segment`` maps a raw
  reconstruction for the bundle's model (percentile mapping of its ``metadata.json``);
* ``slices/``: 2D ``(x, y)`` slices normal to the beam, the tilt axis along their axis 1 (or
  ``(y, x)`` as cut, with ``slice_tilt_axis=0``; image uint8 and label uint8, spacing in nm), at
  the centres of equal runs of the ``z`` slices that hold alumina or Pt;
* ``datalist.json`` (2D slices) and ``datalist_3d.json`` (whole volumes), each with ``training``
  (the first volumes) and ``validation`` (the last ones), and ``dataset.json``, the parameters,
  written last: a folder with a matching ``dataset.json`` is reused as it is.

Generation holds a lock file in ``folder`` so that processes started together (torchrun) make
the dataset once; the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from scipy import ndimage

from catseg3d.io.datalist import DATALIST_NAME, write_datalist
from catseg3d.io.jsonfile import write_json
from catseg3d.io.labels import UNLABELLED
from catseg3d.io.nifti import read_nifti, write_nifti
from catseg3d.io.volume import Volume
from catseg3d.simulation.series import SimulatedFiles, simulate_series
from catseg3d.simulation.settings import imaging_parameters, simulator_settings, specimen_parameters
from catseg3d.transforms.intensity import IntensityMapping, sample_indices, to_uint8

DATALIST_3D_NAME = "datalist_3d.json"
MANIFEST_NAME = "dataset.json"
IMAGE_NAME = "image.nii.gz"


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def map_reconstruction(files: SimulatedFiles, mapping: IntensityMapping) -> Path:
    """Write ``image.nii.gz`` beside the reconstruction: uint8 levels of the percentile mapping
    (percentiles over the same z slices ``catseg3d segment`` samples)."""
    volume = read_nifti(files.reconstruction)
    window = mapping.window("percentile", volume.array.dtype, [volume.array[sample_indices(volume.array.shape[0])]])
    path = files.folder / IMAGE_NAME
    write_nifti(Volume(to_uint8(volume.array, window), volume.spacing), path)
    return path


def slice_indices(labels: np.ndarray, count: int, margin: int = 0) -> np.ndarray:
    """``count`` evenly spaced ``z`` indices (beam) among the slices holding alumina or Pt, and
    ``margin`` more on each side of them (within the volume): the centres of ``count`` equal runs of
    them, so the grazing first and last slices are not taken. A margin takes slices just above and
    below the specimen too, where it shows only as the haze of the reconstruction's depth blur."""
    occupied = np.flatnonzero((labels > 0).any(axis=(1, 2)))
    if margin > 0 and occupied.size:
        occupied = np.arange(max(occupied[0] - margin, 0), min(occupied[-1] + margin, labels.shape[0] - 1) + 1)
    count = min(count, len(occupied))
    picks = ((np.arange(count) + 0.5) / max(count, 1) * len(occupied)).astype(int)
    return occupied[np.unique(picks)]


def grow_labels(label: np.ndarray, margin_nm: float, spacing_nm: Sequence[float], support: int = 1,
                metal: int = 2) -> np.ndarray:
    """A 2D label ``(y, x)`` drawn the way annotators draw a slice: every pixel whose centre lies
    within ``margin_nm`` (in the slice's plane) of a metal pixel becomes metal, then every
    background (0) pixel within ``margin_nm`` of the support becomes support. Exact labels end
    where the material ends; annotators may take in some of the blurred edge pixels too
    (:func:`catseg3d.simulation.realism.edge_levels` compares where the outlines sit on the edges).
    :data:`UNLABELLED` pixels stay unlabelled.

    Args:
        label: ``(y, x)`` labels 0 background, ``support``, ``metal``, and :data:`UNLABELLED`.
        margin_nm: how far the labels grow, in nm; 0 returns a copy.
        spacing_nm: ``(y, x)`` pixel size in nm.
    """
    label = label.copy()
    if margin_nm <= 0:
        return label
    for cls in (metal, support):
        if not (label == cls).any():
            continue
        near = ndimage.distance_transform_edt(label != cls, sampling=spacing_nm) <= margin_nm
        grows_into = (label != cls) & (label != UNLABELLED) if cls == metal else label == 0
        label[near & grows_into] = cls
    return label


def slice_label(labels: np.ndarray, z: int, ambiguous_pt_voxels: int = 0, metal: int = 2,
                margin_nm: float = 0.0, spacing_nm: Sequence[float] = (1.0, 1.0)) -> np.ndarray:
    """Slice ``z`` of the label volume ``labels`` ``(z, y, x)``, grown by ``margin_nm`` in the slice's
    plane of ``(y, x)`` pixel size ``spacing_nm`` (:func:`grow_labels`), with :data:`UNLABELLED`
    where metal lies within ``ambiguous_pt_voxels`` slices above or below but not in the slice
    itself: there a reconstruction shows the particle's blurred tail, which an annotator of the
    slice would call metal and the exact label calls something else, so the loss leaves those
    pixels out."""
    label = grow_labels(labels[z], margin_nm, spacing_nm, metal=metal)
    if ambiguous_pt_voxels > 0:
        near = labels[max(z - ambiguous_pt_voxels, 0):z + ambiguous_pt_voxels + 1] == metal
        label[near.any(axis=0) & (label != metal)] = UNLABELLED
    return label


def _write_slices(files: SimulatedFiles, out: Path, count: int, margin_nm: float = 0.0,
                  ambiguous_pt_nm: float = 0.0, label_margin_nm: float = 0.0, tilt_axis: int = 1) -> list[dict]:
    image, labels = read_nifti(files.folder / IMAGE_NAME), read_nifti(files.labels)
    transpose = tilt_axis == 1  # the volume's xy slices are (y, x), the tilt axis y along axis 0
    spacing = (image.spacing[2], image.spacing[1]) if transpose else (image.spacing[1], image.spacing[2])
    ambiguous_voxels = int(round(ambiguous_pt_nm / image.spacing[0]))
    items = []
    for z in slice_indices(labels.array, count, int(round(margin_nm / image.spacing[0]))):
        stem = f"{files.folder.name}_z{z:03d}"
        label = slice_label(labels.array, z, ambiguous_voxels, margin_nm=label_margin_nm,
                            spacing_nm=(image.spacing[1], image.spacing[2]))
        for key, array in (("image", image.array[z]), ("label", label)):
            write_nifti(Volume(np.ascontiguousarray(array.T if transpose else array), spacing),
                        out / f"{stem}_{key}.nii.gz")
        items.append({"image": f"slices/{stem}_image.nii.gz", "label": f"slices/{stem}_label.nii.gz"})
    return items


def embedded_dataset(folder: str | os.PathLike, metadata: dict | str | os.PathLike, volumes: int = 5,
                     validation_volumes: int = 1, slices_per_volume: int = 6,
                     shape: Sequence[int] = (128, 256, 256), spacing_nm: float = 0.12, seed: int = 0,
                     slice_margin_nm: float = 0.0, ambiguous_pt_nm: float = 0.0, label_margin_nm: float = 0.0,
                     slice_tilt_axis: int = 1, imaging: dict | None = None, specimen: dict | None = None) -> str:
    """The embedded dataset's folder, generated first if it is missing or was made differently.

    Args:
        folder: where the dataset lives.
        metadata: the bundle's ``metadata.json`` (path or loaded; a bundle config passes
            ``@_meta_``), whose ``intensity_mapping`` maps the reconstructions to 8 bits.
        volumes: simulated volumes in all; the last ``validation_volumes`` are for validation.
        slices_per_volume: 2D slices taken from each volume.
        shape: ``(z, y, x)`` voxels of a volume (z the beam, y the tilt axis); the slices are ``(x, y)``.
        spacing_nm: voxel size.
        seed: the simulation series' seed.
        slice_margin_nm: how far above and below the specimen (its first and last slices holding
            alumina or Pt) slices may be taken too (see :func:`slice_indices`).
        ambiguous_pt_nm: leave unlabelled (255) the pixels of a training slice with Pt within this
            distance above or below them but not in the slice (see :func:`slice_label`); 0: none.
            Validation slices keep the exact labels, so that validation scores what a model predicts.
        label_margin_nm: grow the 2D slices' Pt and alumina labels (training and validation) by this
            much in the slice's plane, as annotators draw them (see :func:`grow_labels`); 0: the
            exact labels. The volumes' labels (``datalist_3d.json``) stay exact.
        slice_tilt_axis: the axis of the 2D slices that runs along the tilt axis: 1, slices
            ``(x, y)``; 0, slices ``(y, x)`` as cut from the volume.
        imaging: overrides of the simulator's
            :class:`~catseg3d.simulation.settings.ImagingParameters` (field name to value), e.g.
            ``{"depth_blur_fwhm_nm": 2.5}``; none: its defaults.
        specimen: overrides of the simulator's
            :class:`~catseg3d.simulation.settings.SpecimenParameters` (field name to value), e.g.
            ``{"dim_masses": [1, 3]}``; none: its defaults.

    Returns:
        ``folder`` as a string (for the bundle's ``dataset_dir``).

    Raises:
        ValueError: fewer than one training or validation volume, or an unknown imaging or specimen
            parameter.
    """
    folder = Path(folder)
    if slice_tilt_axis not in (0, 1):
        raise ValueError(f"slice_tilt_axis must be 0 or 1, got {slice_tilt_axis!r}")
    if not 0 < validation_volumes < volumes:
        raise ValueError(f"need at least one training and one validation volume, got {volumes} volumes "
                         f"of which {validation_volumes} for validation")
    if not isinstance(metadata, dict):
        metadata = json.loads(Path(metadata).read_text())
    mapping = IntensityMapping.from_metadata(metadata)
    imaging_settings, specimen_settings = imaging_parameters(imaging), specimen_parameters(specimen)
    manifest = {"volumes": volumes, "validation_volumes": validation_volumes, "slices_per_volume": slices_per_volume,
                "shape_zyx": [int(s) for s in shape], "spacing_nm": float(spacing_nm), "seed": int(seed),
                "slice_margin_nm": float(slice_margin_nm), "ambiguous_pt_nm": float(ambiguous_pt_nm),
                "label_margin_nm": float(label_margin_nm), "intensity_mapping": mapping.as_metadata(),
                "slices": f"xy, tilt axis along axis {slice_tilt_axis}",
                **simulator_settings(imaging_settings, specimen_settings)}
    if ambiguous_pt_nm > 0:
        manifest["ambiguous_pt_unlabelled_in"] = "training"
    with _locked(folder):
        try:
            if json.loads((folder / MANIFEST_NAME).read_text()) == manifest:
                return str(folder)
        except (OSError, ValueError):
            pass
        written = simulate_series(folder / "volumes", volumes, shape, seed, spacing_nm, imaging=imaging_settings,
                                  specimen=specimen_settings)
        (folder / "slices").mkdir(exist_ok=True)
        splits = {"training": written[:-validation_volumes], "validation": written[-validation_volumes:]}
        slices, whole = {}, {}
        for split, files_list in splits.items():
            slices[split], whole[split] = [], []
            for files in files_list:
                map_reconstruction(files, mapping)
                slices[split] += _write_slices(files, folder / "slices", slices_per_volume, slice_margin_nm,
                                                 ambiguous_pt_nm if split == "training" else 0.0, label_margin_nm,
                                                 slice_tilt_axis)
                base = files.folder.relative_to(folder)
                whole[split].append({"image": str(base / IMAGE_NAME), "label": str(base / files.labels.name)})
        write_datalist(slices, folder / DATALIST_NAME)
        write_datalist(whole, folder / DATALIST_3D_NAME)
        write_json(folder / MANIFEST_NAME, manifest)
    return str(folder)
