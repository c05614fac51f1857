"""Score models on held-out simulated tomograms: per-class DSC, RHD90 in nm, Pt particle recall.

Each model segments each volume's ``reconstruction.nii.gz`` with ``catseg3d segment`` and is scored
against ``labels.nii.gz``. 3D models run in gaussian-blended 3D windows. 2D models run on the slices
normal to the beam (xy), seen as the embedded training slices are (``catseg3d.simulation.dataset``:
``volume[z].T``, the tilt axis along the slice's second axis): the volume is transposed to
``(z, x, y)`` for ``segment --axis z`` and the labels transposed back. ``NAME=PATH@xy,xz,yz`` runs a
2D model on those planes of the transposed volume and averages them (``segment --planes``,
tri-planar fusion). A true Pt
particle (26-connected component) counts as found when a predicted Pt voxel overlaps it. Pt count,
mean equivalent-sphere diameter and fraction attached to alumina are those of ``catseg3d quantify``
(``catseg3d.quantify.measure_particles``), pooled over the volumes, beside the truth's. Label
changes between neighbouring voxels along z (the beam, the stacking axis of the 2D xy path) and
within the slices (y, x) are given as ratios to the truth's (``catseg3d.metrics.consistency``): a
2D model whose labels flicker from slice to slice scores above 1 along z. An RHD90
is undefined on a volume where the model predicts none of a class the truth has (or the reverse);
the mean leaves such volumes out and the table says how many.

    catseg3d simulate runs/sim_test --n 4 --seed 1000 --shape 128 256 256
    python scripts/compare_on_simulated.py runs/sim_test \\
        "2D, simulated=runs/compare/b2d/runs/simulated/models/model.pt" \\
        "2D tri-planar, simulated=runs/compare/b2d/runs/simulated/models/model.pt@xy,xz,yz" \\
        "3D, simulated=runs/compare/b3d" "2D, real Genc data=bundle"
        [--border 32]   # pixels mirrored at slice edges, as catseg3d segment (0: none, as before bundle 0.4.0)

A model is a bundle or run folder (a 3D run's ``models_3d/model.pt``) or a ``model.pt``; a file outside a bundle is run with this
repository's ``bundle/configs`` metadata (its intensity mapping and class names).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from catseg3d.inference import load_segmentation_model
from catseg3d.io import Volume, read_nifti, write_nifti
from catseg3d.metrics.consistency import slice_changes
from catseg3d.metrics.hausdorff import UNDEFINED, hausdorff_status, percentile_hausdorff
from catseg3d.metrics.paper import CLASS_NAMES as CLASSES
from catseg3d.metrics.particles import particle_counts
from catseg3d.quantify.particles import measure_particles

REPO = Path(__file__).resolve().parents[1]


def as_bundle(model: Path, folder: Path) -> Path:
    """A bundle folder holding ``model`` (this repository's configs if it is a bare file)."""
    if model.is_dir():
        return model
    if (model.parent.parent / "configs" / "metadata.json").is_file():
        return model
    shutil.copytree(REPO / "bundle" / "configs", folder / "configs")
    (folder / "models").mkdir()
    shutil.copy(model, folder / "models" / "model.pt")
    return folder


def scores(pred: np.ndarray, truth: np.ndarray, spacing) -> dict:
    """DSC per class, RHD90 (nm) of alumina and Pt (and whether it is undefined: one mask empty), Pt
    particle recall and false particles."""
    result = {}
    for c, name in enumerate(CLASSES):
        p, t = pred == c, truth == c
        result[f"dsc_{name}"] = 2 * (p & t).sum() / (p.sum() + t.sum()) if p.sum() + t.sum() else np.nan
    for c, name in ((1, "alumina"), (2, "pt")):
        result[f"rhd90_{name}"] = float(percentile_hausdorff(pred == c, truth == c, [90], spacing)[0])
        result[f"undefined_rhd90_{name}"] = hausdorff_status(pred == c, truth == c) == UNDEFINED
    changes, true_changes = slice_changes(pred), slice_changes(truth)
    result.update(z_changes_over_truth=changes.z / true_changes.z, yx_changes_over_truth=(changes.y + changes.x)
                  / (true_changes.y + true_changes.x))
    for which, labels in (("pred", pred), ("truth", truth)):  # the numbers quantify reports
        particles = measure_particles(labels, spacing)
        result[f"pt_diameters_{which}"] = [p.diameter_nm for p in particles]
        result[f"pt_attached_{which}"] = [p.attached for p in particles]
    counts = particle_counts(pred, truth, 2)
    result.update(pt_particles=counts.true, pt_found=counts.found,
                  pt_recall=counts.found / counts.true if counts.true else np.nan, pt_false_particles=counts.false)
    return result


def transposed(volume: Path, out: Path) -> Path:
    """``volume`` with its y and x axes swapped, ``(z, x, y)``, written to ``out``."""
    image = read_nifti(volume)
    z, y, x = image.spacing
    write_nifti(Volume(np.ascontiguousarray(image.array.transpose(0, 2, 1)), (z, x, y)), out)
    return out


def segment(volume: Path, bundle: Path, out: Path, border: int, planes: str | None, work: Path,
            options: Sequence[str] = (), tilt_axis: str = "y") -> float:
    """Run ``catseg3d segment`` (``--border`` pixels mirrored at slice edges, and ``options``): a 2D
    model on ``planes`` (default xy) of the volume, transposed first (and its labels back) where the
    tilt axis is along y so that it lies along the slices' second axis as in training. Returns its
    wall-clock seconds. A failed run stops the script with its error line."""
    spatial_dims = load_segmentation_model(bundle).spatial_dims
    if spatial_dims == 3 and planes:
        raise SystemExit(f"{bundle}: @{planes}: planes are for 2D models")
    dims_options = ["--planes", planes or "xy"] if spatial_dims == 2 else ["--window", "96"]
    transpose = spatial_dims == 2 and tilt_axis == "y"
    source = transposed(volume, work / "transposed.nii.gz") if transpose else volume
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "catseg3d", "segment", str(source), str(out), "--model",
                             str(bundle), "--precision", "float32", "--border", str(border), *dims_options, *options],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"catseg3d segment {volume} with {bundle} failed: {result.stderr.strip().splitlines()[-1]}")
    seconds = time.perf_counter() - start
    if transpose:
        transposed(out, out)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test_dir", type=Path, help="output of catseg3d simulate (volume_NNN folders)")
    parser.add_argument("models", nargs="+", help="NAME=PATH (bundle folder or model.pt), NAME=PATH@xy,xz,yz for a "
                                                  "2D model on several planes (tri-planar fusion)")
    parser.add_argument("--predictions", type=Path, help="keep the label maps here (MODEL_INDEX_volume_NNN.nii.gz)")
    parser.add_argument("--border", type=int, default=32, help="pixels mirrored at each slice edge (0: none)")
    args = parser.parse_args()
    volumes = sorted(args.test_dir.glob("volume_*"))
    print(f"{len(volumes)} held-out volumes in {args.test_dir}\n")
    header = ("| model | DSC background | DSC alumina | DSC Pt | RHD90 alumina (nm) | RHD90 Pt (nm) "
              "| Pt particles found | false Pt particles | Pt count / truth's | Pt mean diameter (nm) / truth's "
              "| Pt attached fraction / truth's | label changes along z / truth's | along y, x / truth's | s / volume |")
    rows = [header, "|---" * (header.count("|") - 1) + "|"]
    if args.predictions:
        args.predictions.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for index, spec in enumerate(args.models):
            name, path = spec.rsplit("=", 1)
            path, _, planes = path.partition("@")
            bundle = as_bundle(Path(path), Path(work) / f"bundle_{index}")
            per_volume, seconds = [], []
            for volume in volumes:
                out = (args.predictions or Path(work)) / f"{index}_{volume.name}.nii.gz"
                seconds.append(segment(volume / "reconstruction.nii.gz", bundle, out, args.border, planes or None,
                                       Path(work)))
                truth = read_nifti(volume / "labels.nii.gz")
                per_volume.append(scores(read_nifti(out).array, truth.array, truth.spacing))
            mean = {k: float(np.nanmean([s[k] for s in per_volume])) for k in per_volume[0]
                    if not k.startswith(("undefined_", "pt_diameters_", "pt_attached_"))}
            pooled = {k: [v for s in per_volume for v in s[k]] for k in per_volume[0]
                      if k.startswith(("pt_diameters_", "pt_attached_"))}
            quantified = (f"{len(pooled['pt_diameters_pred'])} / {len(pooled['pt_diameters_truth'])} "
                          f"| {np.mean(pooled['pt_diameters_pred']):.2f} / {np.mean(pooled['pt_diameters_truth']):.2f} "
                          f"| {np.mean(pooled['pt_attached_pred']):.2f} / {np.mean(pooled['pt_attached_truth']):.2f}")
            rhd = {}  # the mean over volumes where it is defined, and how many were left out
            for c in ("alumina", "pt"):
                undefined = sum(s[f"undefined_rhd90_{c}"] for s in per_volume)
                rhd[c] = f"{mean[f'rhd90_{c}']:.2f}" + (f" ({undefined} undefined)" if undefined else "")
            found = sum(s["pt_found"] for s in per_volume)
            total = sum(s["pt_particles"] for s in per_volume)
            false = sum(s["pt_false_particles"] for s in per_volume)
            particles = f"{found}/{total} ({found / total:.3f})" if total else "no true particles"
            rows.append(f"| {name} | {mean['dsc_background']:.3f} | {mean['dsc_alumina']:.3f} | {mean['dsc_pt']:.3f} "
                        f"| {rhd['alumina']} | {rhd['pt']} | {particles} | {false} | {quantified} | {mean['z_changes_over_truth']:.2f} "
                        f"| {mean['yx_changes_over_truth']:.2f} | {np.median(seconds):.1f} |")
            print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()), flush=True)
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
