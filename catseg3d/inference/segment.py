"""Segment a whole tomogram with bounded memory: read, map, predict and write slab by slab.

Paths through :func:`segment`:

* **Streaming** (a 2D model on ``xy`` slices, or a 3D model): the input is read in slabs of
  ``slab`` slices (3D: blocks with a half-window halo on each side, of which only the centre is
  kept), mapped to uint8 levels, predicted, and the labels (and optional probabilities) are
  appended to raw part files. Memory holds one slab; nothing grows with the number of slices.
  Under ``torchrun`` the slices are split into one contiguous shard per process and rank 0
  assembles the parts, so the file equals what one process writes.
* **Other planes** (a 2D model on ``xz``/``yz`` slices, or several planes averaged: tri-planar
  fusion): the mapped input is held as a uint8 volume and the class probabilities are summed in
  a float32 memory map on disk beside the output, never in RAM.

The output is a uint8 label NIfTI with the input's geometry (shape, spacing in nm, affine
convention of :mod:`catseg3d.io.nifti`); probabilities go to a 4D NIfTI ``(x, y, z, class)``
stored as uint8 with ``scl_slope = 1/255`` so that readers see values in [0, 1].
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from catseg3d.inference.postprocess import remove_small_components
from catseg3d.inference.predictor import Predictor
from catseg3d.io.errors import InputError
from catseg3d.io.nifti import check_nifti_output, header_like, nifti_header
from catseg3d.io.nifti_stream import write_nifti_from_parts
from catseg3d.io.slabs import SlabReader, open_slabs
from catseg3d.transforms.intensity import sample_indices, to_uint8

PLANE_NORMALS = {"xy": 0, "xz": 1, "yz": 2}  # numpy axis normal to each slice plane
AXIS_PLANES = {"z": "xy", "y": "xz", "x": "yz"}
log = logging.getLogger(__name__)


@dataclass
class SegmentSummary:
    """What :func:`segment` did.

    Attributes:
        shape: output shape, numpy ``(z, y, x)`` (``(1, y, x)`` for a 2D image).
        seconds: wall time.
        class_fractions: class name -> fraction of voxels.
        precision: ``bfloat16`` or ``float32``.
        intensity_window: raw values mapped to levels 0 and 255.
        removed_components: components relabelled by ``min_size``.
        resampled: the input went through the network at the model's pixel size.
    """

    shape: tuple[int, ...]
    seconds: float
    class_fractions: dict[str, float]
    precision: str
    intensity_window: tuple[float, float]
    removed_components: int = 0
    resampled: bool = False

    def line(self, output: str | Path) -> str:
        voxels = int(np.prod(self.shape))
        fractions = ", ".join(f"{name} {100 * f:.2f} %" for name, f in self.class_fractions.items())
        return (f"{output}: {'x'.join(map(str, self.shape))} voxels in {self.seconds:.1f} s "
                f"({voxels / self.seconds / 1e6:.2f} M voxels/s, {self.precision}); {fractions}")


def _output_header(reader: SlabReader, channels: int):
    """uint8 header with the input's geometry: a NIfTI input's own header, else catseg3d's (with
    the input's affine where its format has one)."""
    if reader.nifti_header is not None:
        return header_like(reader.nifti_header, np.uint8, channels)
    return nifti_header(reader.shape[-reader.ndim:], reader.spacing, np.uint8, channels, reader.affine)


def distributed_rank_world() -> tuple[int, int]:
    """``(rank, world size)`` of the process group, ``(0, 1)`` outside one."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def sample_slices(reader: SlabReader) -> list[np.ndarray]:
    """The z slices percentiles are taken over (:func:`catseg3d.transforms.intensity.sample_indices`)."""
    return [reader.read(i, i + 1) for i in sample_indices(reader.shape[0])]


def _shared_work_dir(output: Path, world: int) -> Path:
    """A fresh folder beside ``output`` for part files, the same one on every rank."""
    rank = distributed_rank_world()[0]
    names = [tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".parts", dir=output.parent)
             if rank == 0 else None]
    if world > 1:
        dist.broadcast_object_list(names, src=0)
    return Path(names[0])


class _PartWriter:
    """Append uint8 label and probability slabs of one rank to raw part files."""

    def __init__(self, stack: ExitStack, work: Path, rank: int, num_classes: int, with_probabilities: bool):
        self.labels = stack.enter_context(open(work / f"labels.{rank:04d}", "wb"))
        self.probabilities = [stack.enter_context(open(work / f"prob{c}.{rank:04d}", "wb"))
                              for c in range(num_classes)] if with_probabilities else []
        self.counts = np.zeros(num_classes, dtype=np.int64)

    def write(self, probabilities: np.ndarray) -> None:
        """``probabilities``: float ``(C, n, y, x)`` of ``n`` whole z slices."""
        labels = probabilities.argmax(0).astype(np.uint8)
        labels.tofile(self.labels)
        self.counts += np.bincount(labels.ravel(), minlength=len(self.counts))
        for channel, file in zip(probabilities, self.probabilities):
            np.rint(np.clip(channel, 0, 1) * 255).astype(np.uint8).tofile(file)


def _step(predictor: Predictor, reader: SlabReader, slab: int) -> int:
    """Slices per streaming step: ``slab`` for a 2D model, one window depth (or all) for a 3D one."""
    return slab if predictor.model.spatial_dims == 2 else (predictor.window or reader.shape[0])


def _shard(reader: SlabReader, step: int, rank: int, world: int) -> tuple[int, int]:
    """This rank's slices: a contiguous run of whole steps, so that every rank cuts the volume
    into the blocks one process would (a 3D model's blocks see the same context)."""
    steps = -(-reader.shape[0] // step)
    return min(steps * rank // world * step, reader.shape[0]), min(steps * (rank + 1) // world * step,
                                                                    reader.shape[0])


def _stream(reader: SlabReader, predictor: Predictor, intensity_window, writer: _PartWriter, start: int, stop: int,
            step: int, bar: tqdm) -> None:
    """Predict slices ``start:stop`` in steps (3D: blocks with a half-window halo) into ``writer``."""
    spatial_dims = predictor.model.spatial_dims
    spacing = reader.spacing[-2:] if spatial_dims == 2 else reader.spacing
    halo = 0 if spatial_dims == 2 or predictor.window is None else predictor.window // 2
    for z0 in range(start, stop, step):
        z1 = min(z0 + step, stop)
        lo, hi = max(z0 - halo, 0), min(z1 + halo, reader.shape[0])
        images = to_uint8(reader.read(lo, hi), intensity_window)
        if spatial_dims == 2:
            probabilities = predictor(images, spacing).transpose(1, 0, 2, 3)
        else:
            probabilities = predictor(images, spacing)[:, z0 - lo:z1 - lo]
        writer.write(probabilities)
        bar.update(z1 - z0)


def in_plane_spacing(spacing: tuple[float, ...], plane: str) -> tuple[float, float]:
    """Pixel size in nm of the ``(rows, cols)`` of slices in ``plane`` of a ``(z, y, x)`` volume
    (``xy``: ``(y, x)``; ``xz``: ``(z, x)``; ``yz``: ``(z, y)``)."""
    normal = PLANE_NORMALS[plane]
    return tuple(s for axis, s in enumerate(spacing[-3:]) if axis != normal)


def resampling_note(predictor: Predictor, spacing: tuple[float, ...], planes: tuple[str, ...]) -> str | None:
    """One line saying how the input is resampled to the model's pixel size, or None if it is not.

    Raises:
        ValueError: an input pixel more than :data:`catseg3d.inferers.MAX_UPSAMPLING` times the
            model's along some axis.
    """
    model = predictor.model
    if model.spatial_dims == 3 or len(spacing) == 2:
        grids = [spacing if model.spatial_dims == 3 else spacing[-2:]]
    else:
        grids = [in_plane_spacing(spacing, plane) for plane in planes]
    scales = [predictor.scale_for(grid) for grid in grids]  # every plane checked, not only up to the first resampled
    if all(scale is None for scale in scales):
        return None
    sizes = ", ".join(" x ".join(f"{s:g}" for s in grid) for grid in grids)
    return (f"resampling {sizes} nm to the model's {' x '.join(f'{s:g}' for s in model.spacing_nm)} nm before the "
            "network, the probabilities back to the input grid (--no-resample: off)")


def _planes(reader: SlabReader, predictor: Predictor, intensity_window, planes: tuple[str, ...], writer: _PartWriter,
            work: Path, slab: int, bar: tqdm) -> None:
    """Average the 2D model's probabilities over ``planes``, summed in a disk memory map."""
    volume = np.empty(reader.shape, dtype=np.uint8)
    for z0 in range(0, reader.shape[0], slab):
        volume[z0:z0 + slab] = to_uint8(reader.read(z0, min(z0 + slab, reader.shape[0])), intensity_window)
    total = np.lib.format.open_memmap(work / "probability_sum.npy", mode="w+", dtype=np.float32,
                                      shape=(predictor.model.num_classes, *reader.shape))
    for plane in planes:
        axis = PLANE_NORMALS[plane]
        for i0 in range(0, reader.shape[axis], slab):
            index = slice(i0, min(i0 + slab, reader.shape[axis]))
            images = np.moveaxis(volume[(slice(None),) * axis + (index,)], axis, 0)
            probabilities = np.moveaxis(predictor(images, in_plane_spacing(reader.spacing, plane)), 0, 1 + axis)
            total[(slice(None),) * (1 + axis) + (index,)] += probabilities
            bar.update(index.stop - index.start)
    del volume
    for z0 in range(0, reader.shape[0], slab):
        writer.write(np.asarray(total[:, z0:z0 + slab]) / len(planes))


@dataclass
class SegmentationPlan:
    """How :func:`segment` will run, decided from the input's header and a few sampled slices
    before any prediction.

    Attributes:
        planes: slice planes of a 2D model (a 3D model: ``("xy",)``, meaning the volume).
        streaming: the ``xy``-only path that streams slabs (see the module docstring).
        intensity_window: raw values mapped to levels 0 and 255 of the network input.
        resampling_note: one line if the input is resampled to the model's pixel size, else None.
        headers: uint8 NIfTI headers of the label (1 channel) and probability (C channels) outputs.
        step: slices predicted per step.
        start, stop: this rank's slices (all of them outside ``torchrun`` or off the streaming path).
        total_slices: slices the progress bar counts (every plane's slices, summed).
    """

    planes: tuple[str, ...]
    streaming: bool
    intensity_window: tuple[float, float]
    resampling_note: str | None
    headers: tuple
    step: int
    start: int
    stop: int
    total_slices: int


def plan_segmentation(reader: SlabReader, predictor: Predictor, planes: tuple[str, ...], intensity: str,
                      slab: int, rank: int = 0, world: int = 1) -> SegmentationPlan:
    """Check that ``predictor`` can segment ``reader``'s volume along ``planes`` and plan the run:
    the intensity window (``intensity``: ``auto``, ``fixed`` or ``percentile``), the resampling to
    the model's pixel size, the output headers and this rank's share of the slices.

    Raises:
        InputError: a combination the model or the input cannot take, or a geometry NIfTI cannot hold.
    """
    model, path = predictor.model, reader.path
    planes = tuple(dict.fromkeys(planes))
    if not planes or any(p not in PLANE_NORMALS for p in planes):
        raise InputError(path, f"planes must be among {tuple(PLANE_NORMALS)}, got {planes}")
    streaming = planes == ("xy",)
    if model.spatial_dims == 3 and (reader.ndim == 2 or not streaming):
        raise InputError(path, "a 3D model needs a 3D volume and segments it whole (no --planes/--axis)")
    if reader.ndim == 2 and not streaming:
        raise InputError(path, "a 2D image has only the xy plane")
    if not streaming and world > 1:
        raise InputError(path, "--planes/--axis other than xy run in one process only")
    try:
        samples = sample_slices(reader) if model.intensity.resolve(intensity, reader.dtype) == "percentile" else ()
        intensity_window = model.intensity.window(intensity, reader.dtype, samples)
        note = resampling_note(predictor, reader.spacing, planes)
    except InputError:
        raise
    except ValueError as error:
        raise InputError(path, str(error)) from error
    try:  # the headers first: a geometry NIfTI cannot hold fails before any work
        headers = (_output_header(reader, 1), _output_header(reader, model.num_classes))
    except Exception as error:
        raise InputError(path, f"cannot describe the output in NIfTI ({error})") from error
    step = _step(predictor, reader, slab)
    start, stop = _shard(reader, step, rank, world) if streaming else (0, reader.shape[0])
    total = (stop - start) if streaming else sum(reader.shape[PLANE_NORMALS[p]] for p in planes)
    return SegmentationPlan(planes, streaming, intensity_window, note, headers, step, start, stop, total)


def predict_parts(reader: SlabReader, predictor: Predictor, plan: SegmentationPlan, work: Path, slab: int,
                  with_probabilities: bool, rank: int = 0, progress: bool = True) -> np.ndarray:
    """Predict this rank's slices into raw part files in ``work`` (``labels.RANK`` and, with
    ``with_probabilities``, ``probC.RANK``: uint8, ``(z, y, x)`` order, slices in order).

    Returns:
        voxels per class written by this rank, ``(C,)`` int64.
    """
    with ExitStack() as stack:
        writer = _PartWriter(stack, work, rank, predictor.model.num_classes, with_probabilities)
        bar = stack.enter_context(tqdm(total=plan.total_slices, unit="slice", disable=not progress or rank > 0,
                                       desc=f"segment {reader.path.name}"))
        if plan.streaming:
            _stream(reader, predictor, plan.intensity_window, writer, plan.start, plan.stop, plan.step, bar)
        else:
            _planes(reader, predictor, plan.intensity_window, plan.planes, writer, work, slab, bar)
    return writer.counts


def assemble_outputs(work: Path, plan: SegmentationPlan, shape: tuple[int, ...], output_path: Path,
                     probabilities_path: Path | None, min_size: int, world: int = 1) -> tuple[np.ndarray | None, int]:
    """Write the label NIfTI (and the probabilities, if asked) from every rank's part files in
    ``work``, relabelling components smaller than ``min_size`` voxels first. Both files or neither.

    Args:
        shape: the label volume's numpy shape, ``(z, y, x)`` or ``(y, x)``.

    Returns:
        ``(voxels per class after relabelling, or None if nothing was relabelled, components relabelled)``.
    """
    label_parts = [work / f"labels.{r:04d}" for r in range(world)]
    counts, removed = None, 0
    if min_size > 1:
        labels = np.concatenate([np.fromfile(p, dtype=np.uint8) for p in label_parts]).reshape(shape)
        removed = remove_small_components(labels, min_size)
        counts = np.bincount(labels.ravel(), minlength=plan.headers[1].get_data_shape()[-1])
        for part in label_parts[1:]:
            part.unlink()
        label_parts = label_parts[:1]
        labels.tofile(label_parts[0])
        del labels
    if probabilities_path is not None:  # the larger file first
        header = plan.headers[1]
        header.set_slope_inter(1 / 255, 0)
        channels = header.get_data_shape()[-1]
        write_nifti_from_parts(probabilities_path, header,
                               [work / f"prob{c}.{r:04d}" for c in range(channels) for r in range(world)])
    try:
        write_nifti_from_parts(output_path, plan.headers[0], label_parts)
    except BaseException:
        if probabilities_path is not None:
            Path(probabilities_path).unlink(missing_ok=True)
        raise
    return counts, removed


def segment(input_path: str | Path, output_path: str | Path, predictor: Predictor,
            planes: tuple[str, ...] = ("xy",), probabilities_path: str | Path | None = None,
            min_size: int = 0, intensity: str = "auto", spacing=None, slab: int = 4,
            progress: bool = True, report=None) -> SegmentSummary:
    """Segment ``input_path`` into the uint8 label NIfTI ``output_path``: plan
    (:func:`plan_segmentation`), predict (:func:`predict_parts`), assemble (:func:`assemble_outputs`).

    Args:
        input_path: anything :func:`catseg3d.io.slabs.open_slabs` opens (a 2D image counts as one
            ``xy`` slice).
        output_path: ``.nii``/``.nii.gz`` labels, same shape and spacing as the input.
        predictor: the model and how to run it.
        planes: slice planes of a 2D model, among ``xy`` (normal to z), ``xz``, ``yz``; several
            are averaged (tri-planar fusion). A 3D model takes ``("xy",)``, meaning the volume.
        probabilities_path: optional 4D NIfTI of class probabilities (uint8, ``scl_slope`` 1/255).
        min_size: relabel components smaller than this many voxels
            (:func:`catseg3d.inference.postprocess.remove_small_components`); holds the label
            volume in memory.
        intensity: ``auto``, ``fixed`` or ``percentile`` (:mod:`catseg3d.transforms.intensity`).
        spacing: voxel size in nm overriding the file's.
        slab: slices read, predicted and written at a time (2D models).
        progress: show a progress bar (rank 0 only).
        report: called (rank 0 only) with one line when the input is resampled to the model's
            pixel size (``predictor.resample``; see :func:`resampling_note`).

    Under ``torch.distributed`` every rank calls this with the same arguments; the streaming
    path splits the slices between ranks and rank 0 writes the files.

    Raises:
        InputError: bad input, output path or option (nothing is written).
    """
    started = time.perf_counter()
    rank, world = distributed_rank_world()
    output_path = Path(output_path)
    check_nifti_output(output_path, inputs=[input_path])
    if probabilities_path is not None:
        check_nifti_output(probabilities_path, inputs=[input_path])
        probabilities_path = Path(probabilities_path)
        if probabilities_path.resolve() == output_path.resolve():
            raise InputError(output_path, "the probabilities need a file of their own")
    if slab < 1:
        raise InputError(output_path, f"slab must be at least 1 slice, got {slab}")
    with open_slabs(input_path, spacing) as reader:
        plan = plan_segmentation(reader, predictor, planes, intensity, slab, rank, world)
        if plan.resampling_note and report is not None and rank == 0:
            report(plan.resampling_note)
        work = _shared_work_dir(output_path, world)
        try:
            counts = torch.from_numpy(predict_parts(reader, predictor, plan, work, slab,
                                                    probabilities_path is not None, rank, progress))
            if world > 1:  # on the device: nccl reduces GPU tensors only
                counts = counts.to(predictor.device)
                dist.all_reduce(counts)  # also tells rank 0 that every part is complete
                counts = counts.cpu()
            removed = 0
            if rank == 0:
                cleaned, removed = assemble_outputs(work, plan, tuple(reader.shape[-reader.ndim:]), output_path,
                                                    probabilities_path, min_size, world)
                if cleaned is not None:
                    counts = torch.from_numpy(cleaned)
        finally:
            if rank == 0:
                shutil.rmtree(work, ignore_errors=True)
    fractions = counts.double() / counts.sum()
    return SegmentSummary(tuple(reader.shape), time.perf_counter() - started,
                          dict(zip(predictor.model.class_names, fractions.tolist())), predictor.precision,
                          plan.intensity_window, removed, plan.resampling_note is not None)
