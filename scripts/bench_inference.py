"""Inference on CPU: MONAI's default path against ``catseg3d segment``'s, on real slices.

Both paths run the same trained 2D model on the same 1024 x 512 slices, each built from two real
Genc et al. validation/training patches, alternating in one process; medians of ``--repeats``.

* MONAI default: float32, contiguous tensors, ``SlidingWindowInferer(roi_size=512, overlap=0.25,
  mode="gaussian")`` per slice.
* catseg3d: :class:`catseg3d.inference.predictor.Predictor` as ``catseg3d segment`` runs it by
  default (whole slice, bfloat16 autocast + channels-last), or with ``--window 512``.

Printed: seconds per slice, slices per second, GFLOP/s (convolution FLOPs the path executes, from
``torch.utils.flop_counter``), the speed ratio, and the agreement of the two label stacks (voxel
agreement, per-class DSC). ``--stack N`` also writes an N-slice stack (uint8 NIfTI) and times
``catseg3d segment`` on it in a child process, with that process's peak RSS (GNU time).

    python scripts/bench_inference.py [--slices 6] [--repeats 3] [--window 0] [--stack 702 1404]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from monai.inferers import SlidingWindowInferer
from torch.utils.flop_counter import FlopCounterMode

from catseg3d.inference.model import load_segmentation_model
from catseg3d.inference.predictor import Predictor
from catseg3d.io import Volume, load_datalist, read_nifti, write_nifti


def real_slices(dataset_dir: str, count: int, offset: int = 0) -> np.ndarray:
    """``(count, 1024, 512)`` uint8 slices, each two real 512 x 512 patches one above the other."""
    items = load_datalist(dataset_dir, "validation") + load_datalist(dataset_dir, "training")
    patches = [read_nifti(item["image"]).array for item in items]
    n = len(patches)
    return np.stack([np.concatenate([patches[(offset + k) % n], patches[(offset + 7 * k + 1) % n]])
                     for k in range(count)]).astype(np.uint8)


class MonaiDefault:
    """MONAI's default sliding-window inference in float32 on contiguous tensors."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network
        self.inferer = SlidingWindowInferer(roi_size=512, overlap=0.25, mode="gaussian")

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(images).float().div(255.0).transpose(1, 2)[:, None]  # network order
        return self.inferer(x, self.network).transpose(2, 3).numpy()


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else float("nan")


def gflop(path, image: np.ndarray) -> float:
    with FlopCounterMode(display=False) as counter:
        path(image[:1])
    return counter.get_total_flops() / 1e9


def compare(args, model) -> None:
    images = real_slices(args.dataset_dir, args.slices)
    base = MonaiDefault(load_segmentation_model(args.model).network)
    ours = Predictor(model, window=args.window or None)
    paths = {"MONAI default (float32, SW 512, gaussian)": base,
             f"catseg3d ({'whole slice' if not args.window else f'SW {args.window}'}, {ours.precision}"
             f"{', channels-last' if ours.channels_last else ''})": ours}
    flops = {name: gflop(path, images) for name, path in paths.items()}
    seconds = {name: [] for name in paths}
    labels = {}
    for name, path in paths.items():  # warm-up
        path(images[:1])
    for _ in range(args.repeats):
        for name, path in paths.items():
            started = time.perf_counter()
            labels[name] = np.concatenate([path(images[i:i + 1]).argmax(1) for i in range(len(images))])
            seconds[name].append((time.perf_counter() - started) / len(images))
    print(f"{len(images)} slices of 1024 x 512, {args.repeats} repeats, {torch.get_num_threads()} threads\n")
    print("| path | s/slice (median) | slices/s | GFLOP/slice | GFLOP/s |")
    print("|---|---|---|---|---|")
    medians = {}
    for name in paths:
        medians[name] = statistics.median(seconds[name])
        print(f"| {name} | {medians[name]:.3f} | {1 / medians[name]:.2f} | {flops[name]:.0f} | "
              f"{flops[name] / medians[name]:.0f} |")
    (name_a, a), (name_b, b) = labels.items()
    print(f"\nspeed ratio: {medians[name_a] / medians[name_b]:.2f}x")
    dsc = ", ".join(f"{c} {dice(a == i, b == i):.4f}" for i, c in enumerate(model.class_names))
    counts = [np.bincount(labels.ravel(), minlength=3).tolist() for labels in (a, b)]
    print(f"agreement: voxels {np.mean(a == b):.5f}; DSC {dsc}; class voxels {counts[0]} vs {counts[1]}")


def run_stack(args, count: int, folder: Path) -> None:
    path = folder / f"stack_{count}.nii.gz"
    write_nifti(Volume(real_slices(args.dataset_dir, count), (0.12, 0.12, 0.12)), path)
    command = [sys.executable, "-m", "catseg3d", "segment", str(path), str(folder / f"labels_{count}.nii.gz")]
    if args.model:
        command += ["--model", args.model]
    if args.window:
        command += ["--window", str(args.window)]
    # GNU time forks the command from its own small process: the peak RSS it reports is the
    # command's alone (a child forked from this process would count this process's pages too)
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *command], stderr=subprocess.PIPE, text=True)
    minutes = (time.perf_counter() - started) / 60
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr[-1000:]}")
    peak_kb = int(result.stderr.rsplit("maxrss_kb=", 1)[1].split()[0])
    print(f"| {count} x 1024 x 512 | {minutes:.2f} | {minutes * 60 / count:.3f} | "
          f"{peak_kb / 2**20:.2f} | {count * 1024 * 512 / 2**30:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle or model.pt (default: bundle/)")
    parser.add_argument("--dataset_dir", default="data/genc2022")
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=int, default=0, help="catseg3d window (0: whole slice)")
    parser.add_argument("--stack", type=int, nargs="*", default=[], help="also segment N-slice stacks")
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()
    model = load_segmentation_model(args.model)
    if not args.skip_compare:
        compare(args, model)
    if args.stack:
        print("\n| stack | minutes | s/slice | peak RSS (GiB) | uint8 input (GiB) |\n|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as folder:
            for count in args.stack:
                run_stack(args, count, Path(folder))


if __name__ == "__main__":
    main()
