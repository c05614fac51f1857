"""Segment the 15 validation patches at other pixel sizes, with and without resampling to the model's.

Each patch (0.12 nm) and its labels are resized to 0.06, 0.24 and 0.48 nm (images: linear with
anti-aliasing, labels: nearest; ``skimage.transform.resize``) and stored as NIfTI with that pixel
size; ``catseg3d segment`` (the library call) labels them with the model, once as it does by default
(resampled to the model's pixel size and back) and once with ``--no-resample``; each is scored
against the resized labels on the input's own grid (per-class DSC mean over patches, RHD90 in nm).
The native 0.12 nm row is the reference. The patches are the authors' validation split:
neighbouring slices of the model's training patches, so only the differences between rows mean
something.

    catseg3d prepare-genc2022 ../shared/data/genc2022 data/genc2022
    python scripts/pixel_size.py [--model bundle] [--dataset_dir data/genc2022]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage.transform import resize

from catseg3d.inference.model import load_segmentation_model
from catseg3d.inferers import pixel_size
from catseg3d.inference.predictor import Predictor
from catseg3d.inference.segment import segment
from catseg3d.io import Volume, load_datalist, read_nifti, write_nifti
from catseg3d.metrics import Evaluation

REPO = Path(__file__).resolve().parents[1]
PIXEL_SIZES_NM = (0.06, 0.12, 0.24, 0.48)


def resized_pair(image: Volume, label: Volume, spacing_nm: float) -> tuple[Volume, Volume]:
    """The patch and its labels at ``spacing_nm`` (same field of view)."""
    shape = tuple(int(round(n * s / spacing_nm)) for n, s in zip(image.array.shape, image.spacing))
    pixels = resize(image.array.astype(np.float32), shape, order=1, anti_aliasing=True, preserve_range=True)
    labels = resize(label.array, shape, order=0, anti_aliasing=False, preserve_range=True)
    return (Volume(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), (spacing_nm,) * 2),
            Volume(labels.astype(np.uint8), (spacing_nm,) * 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="bundle folder or model file (default: the shipped model)")
    parser.add_argument("--dataset_dir", type=Path, default=REPO / "data" / "genc2022")
    parser.add_argument("--sizes", type=float, nargs="+", default=PIXEL_SIZES_NM, metavar="NM",
                        help=f"pixel sizes to resize the patches to (default {' '.join(map(str, PIXEL_SIZES_NM))})")
    parser.add_argument("--resampled-only", action="store_true", help="leave out the rows without resampling")
    parser.add_argument("--max-upsampling", type=float,
                        help="resample inputs up to this many times the model's pixel size (default: segment's limit)")
    args = parser.parse_args()
    if args.max_upsampling:
        pixel_size.MAX_UPSAMPLING = args.max_upsampling
    model = load_segmentation_model(args.model)
    items = load_datalist(args.dataset_dir, "validation")
    print(f"model pixel size {model.spacing_nm} nm; {len(items)} patches")
    print("| pixel size (nm) | pixels per patch | resampled to the model's | DSC alumina | DSC Pt | RHD90 alumina / Pt (nm) "
          "| s per patch |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for spacing in args.sizes:
            for resample in ((True,) if spacing == 0.12 or args.resampled_only else (True, False)):
                predictor = Predictor(model, resample=resample)
                evaluation, seconds = Evaluation(), 0.0
                for item in items:
                    image, label = resized_pair(read_nifti(item["image"]), read_nifti(item["label"]), spacing)
                    write_nifti(image, work / "image.nii.gz")
                    started = time.perf_counter()
                    segment(work / "image.nii.gz", work / "labels.nii.gz", predictor, progress=False)
                    seconds += time.perf_counter() - started
                    prediction = read_nifti(work / "labels.nii.gz").array.reshape(label.array.shape)
                    evaluation.add(Path(item["label"]).name, prediction, label.array, label.spacing)
                report = evaluation.report()
                dsc, rhd = report["metrics"]["dsc"], report["rhd_nm"]
                side = label.array.shape[0]
                print(f"| {spacing:g} | {side} x {side} | {'native' if spacing == 0.12 else 'yes' if resample else 'no'} "
                      f"| {dsc['alumina']['mean']:.3f} | {dsc['pt']['mean']:.3f} "
                      f"| {rhd['alumina']['90']['mean']:.2f} / {rhd['pt']['90']['mean']:.2f} "
                      f"| {seconds / len(items):.2f} |", flush=True)


if __name__ == "__main__":
    main()
