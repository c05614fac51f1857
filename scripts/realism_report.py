"""Realism report: slices of simulated tomograms beside the real annotated patches, numbers and pictures.

Reads the 60 annotated patches of Genc et al. (2022) with the reader of ``catseg3d prepare-genc2022``
(:mod:`catseg3d.io.genc2022`, 8-bit slices, 0.12 nm) and ``--slices`` evenly spaced slices of each
simulated volume (``--plane xy``: ``(y, x)`` slices normal to the beam; ``xyT``: the same as ``(x, y)``, the tilt axis
along axis 1 as in the real patches and the embedded training dataset; ``zx``: ``(z, x)`` slices
across the tilt axis), skipping slices without alumina. A
volume's 8-bit levels are its ``image.nii.gz`` where there is one (the embedded dataset's), else
its ``reconstruction.nii.gz`` mapped as ``catseg3d segment`` and the embedded dataset map it: the
bundle's ``intensity_mapping`` in ``percentile`` mode (1st and 99th percentiles, over 16 evenly spaced
z slices, to the training patches' levels at those percentiles). Without ``--simulated`` a few volumes
of the default simulation (``catseg3d simulate``'s settings) are made in a temporary folder.

Prints a markdown table (real and simulated, mean ± SD over slices of each measure of
:func:`catseg3d.simulation.realism.slice_statistics`, and the gap in real SDs) and writes
``OUT/realism.png`` (example slices with labels, per-class level histograms, radial power spectra,
angular power, Pt size distributions) and ``OUT/realism.json`` (the numbers).

    python scripts/realism_report.py --real ../shared/data/genc2022 --simulated DIR \\
        [--out docs/figures/realism] [--slices N] [--plane xy|xyT|zx] [--label-margin-nm NM]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from catseg3d.io import read_nifti, read_volume
from catseg3d.io.atomic import write_text
from catseg3d.io.genc2022 import GENC2022_SPACING_NM, SPLITS, check_pair, paired_files
from catseg3d.io.png import pyplot, save_figure
from catseg3d.simulation import simulate_series
from catseg3d.simulation.dataset import IMAGE_NAME, grow_labels
from catseg3d.simulation.realism import CLASS_NAMES, class_histograms, realism_summary
from catseg3d.simulation.series import LABELS, RECONSTRUCTION
from catseg3d.transforms.intensity import IntensityMapping, sample_indices, to_uint8

REPO = Path(__file__).resolve().parents[1]
STATED_REAL_LEVELS = {"background": (8.6, 11.1), "alumina": (59.1, 20.4), "pt": (205.0, 57.0)}  # training patches
CLASS_COLOURS = ("0.35", "tab:blue", "tab:orange")
# (key, row text): scalars of realism_summary, or "pooled:<class>" / "pt_pooled" for pooled values
ROWS = [
    ("fraction_background", "background fraction"),
    ("fraction_alumina", "alumina fraction"),
    ("fraction_pt", "Pt fraction"),
    ("mean_background", "background level, slice mean (0-255)"),
    ("mean_alumina", "alumina level, slice mean"),
    ("mean_pt", "Pt level, slice mean"),
    ("pooled:background", "background level, all pixels"),
    ("pooled:alumina", "alumina level, all pixels"),
    ("pooled:pt", "Pt level, all pixels"),
    ("contrast_pt_alumina", "(median Pt - median alumina) / SD alumina"),
    ("mean_ratio_pt_alumina", "mean Pt / mean alumina"),
    ("contrast_alumina_background", "(median alumina - median background) / SD alumina"),
    ("dim_background", "background pixels at level 25 or above (dim masses)"),
    ("halo_0_0.5nm", "background level 0-0.5 nm from the alumina"),
    ("halo_0.5_1nm", "background level 0.5-1 nm from the alumina"),
    ("halo_1_2nm", "background level 1-2 nm from the alumina"),
    ("edge_alumina", "level of the labelled alumina edge (beside background)"),
    ("edge_pt", "level of the labelled Pt edge"),
    ("texture_alumina", "alumina texture: SD of image - Gaussian(0.24 nm)"),
    ("texture_background", "background texture: SD of image - Gaussian(0.24 nm)"),
    ("high_frequency_fraction_residual", "residual power above Nyquist/2 (white noise 0.75)"),
    ("anisotropy_image", "anisotropy, image: power along axis 0 / axis 1"),
    ("anisotropy_residual", "anisotropy, residual: power along axis 0 / axis 1"),
    ("streak_strength_image", "streak strength, image: abs(log2 anisotropy)"),
    ("streak_strength_residual", "streak strength, residual: abs(log2 anisotropy)"),
    ("pt_per_100nm2", "Pt particles per 100 nm^2"),
    ("pt_diameter_median_nm", "Pt diameter, slice median (nm)"),
    ("pt_pooled", "Pt diameter, all particles (nm)"),
    ("alumina_thickness_nm", "alumina local thickness, slice median (nm)"),
]


def real_patches(src: Path, limit: int | None = None) -> tuple[list[tuple], dict]:
    """``(image, label, spacing_nm, name)`` of the annotated patches (training then validation, at
    most ``limit``), and the pooled levels per class of the training patches (mean, SD of all pixels)."""
    samples, training = [], np.zeros((3, 256))
    for split, (image_folder, mask_folder, prefix) in SPLITS.items():
        for index, (image_file, mask_file) in enumerate(paired_files(src / image_folder, src / mask_folder)):
            if limit is not None and len(samples) >= limit:
                break
            image = read_volume(image_file, spacing=GENC2022_SPACING_NM).array
            mask = read_volume(mask_file, spacing=GENC2022_SPACING_NM).array
            check_pair(image, mask, image_file, mask_file)
            samples.append((image, mask.astype(np.uint8), GENC2022_SPACING_NM, f"{prefix}_{index:03d}"))
            if split == "training":
                training += class_histograms(image, mask)
    levels = np.arange(256)
    pooled = {}
    for c, name in enumerate(CLASS_NAMES):
        total = training[c].sum()
        mean = (training[c] * levels).sum() / total if total else math.nan
        pooled[name] = {"mean": float(mean), "sd": float(np.sqrt((training[c] * (levels - mean) ** 2).sum() / total))
                        if total else math.nan, "pixels": int(total)}
    return samples, pooled


def network_levels(folder: Path, mapping: IntensityMapping) -> np.ndarray:
    """uint8 ``(z, y, x)`` levels of a simulated volume: its ``image.nii.gz``, or its reconstruction
    mapped by ``mapping`` in ``percentile`` mode over the z slices ``catseg3d segment`` samples."""
    if (folder / IMAGE_NAME).is_file():
        return read_nifti(folder / IMAGE_NAME).array
    array = read_nifti(folder / RECONSTRUCTION).array
    window = mapping.window("percentile", array.dtype, [array[sample_indices(array.shape[0])]])
    return to_uint8(array, window)


def simulated_slices(root: Path, mapping: IntensityMapping, per_volume: int, plane: str,
                     label_margin_nm: float = 0.0) -> list[tuple]:
    """``(image, label, spacing_nm, name)`` of ``per_volume`` evenly spaced slices holding alumina of
    each volume under ``root`` (every folder with a ``labels.nii.gz``): the centres of ``per_volume``
    equal runs of the occupied slices, so the grazing first and last slices are not taken. The labels
    are grown by ``label_margin_nm`` in the slice's plane as the embedded dataset grows them
    (:func:`catseg3d.simulation.dataset.grow_labels`)."""
    folders = sorted(path.parent for path in root.rglob(LABELS))
    if not folders:
        raise SystemExit(f"{root}: no simulated volume (no {LABELS} below it)")
    axis, kept = (1, (0, 2)) if plane == "zx" else (0, (1, 2))
    samples = []
    for folder in folders:
        labels = read_nifti(folder / LABELS)
        levels = network_levels(folder, mapping)
        spacing = tuple(labels.spacing[a] for a in kept)
        if not math.isclose(*spacing, rel_tol=1e-4):
            raise SystemExit(f"{folder}: expected square pixels in the {plane} plane, got {spacing} nm")
        occupied = np.flatnonzero((labels.array == 1).any(axis=kept))
        count = min(per_volume, len(occupied))
        picks = np.unique(((np.arange(count) + 0.5) / max(count, 1) * len(occupied)).astype(int))  # centred bins
        for index in occupied[picks] if len(occupied) else []:
            cut = [slice(None)] * 3
            cut[axis] = index
            image, label = levels[tuple(cut)], grow_labels(labels.array[tuple(cut)], label_margin_nm, spacing)
            if plane == "xyT":  # tilt axis along axis 1, like the real patches
                image, label = image.T, label.T
            samples.append((np.ascontiguousarray(image), np.ascontiguousarray(label),
                            spacing[0], f"{folder.name} {'zyx'[axis]}={index}"))
    if not samples:
        raise SystemExit(f"{root}: no slice with alumina in {len(folders)} volume(s)")
    return samples


def cell(stat: dict) -> str:
    if stat["n"] == 0:
        return "—"
    sd = "" if math.isnan(stat["sd"]) else f" ± {stat['sd']:.3g}"
    return f"{stat['mean']:.3g}{sd}"


def table(real: dict, simulated: dict) -> tuple[str, dict]:
    """The markdown table, and the gap (simulated - real mean, in real SDs) per row."""
    def stat(summary: dict, key: str) -> dict:
        if key.startswith("pooled:"):
            pooled = summary["intensity_pooled"][key.split(":")[1]]
            return {"mean": pooled["mean"], "sd": pooled["sd"], "n": pooled["pixels"]}
        return summary["pt_diameters_nm"] if key == "pt_pooled" else summary["scalars"][key]

    lines = [f"| measure | real (n = {real['n_slices']} patches) | simulated (n = {simulated['n_slices']} slices) "
             "| gap (real SDs) |", "|---|---|---|---|"]
    gaps = {}
    for key, text in ROWS:
        r, s = stat(real, key), stat(simulated, key)
        gap = (s["mean"] - r["mean"]) / r["sd"] if r["n"] and s["n"] and r["sd"] > 0 else math.nan
        gaps[key] = gap
        lines.append(f"| {text} | {cell(r)} | {cell(s)} | {'—' if math.isnan(gap) else f'{gap:+.2f}'} |")
    return "\n".join(lines), gaps


def figure(real: list[tuple], simulated: list[tuple], summaries: dict, path: Path, examples: int = 3) -> None:
    """Example slices and their labels (top), histograms, spectra, angular power, Pt sizes (bottom)."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    fig = plt.figure(figsize=(3.0 * 2 * examples, 9.5))
    outer = fig.add_gridspec(2, 1, height_ratios=[2, 1.1], hspace=0.25)
    top = outer[0].subgridspec(2, 2 * examples, wspace=0.05, hspace=0.12)
    label_map = ListedColormap(["black", CLASS_COLOURS[1], CLASS_COLOURS[2]])
    chosen = [("real", real[int(i)]) for i in np.linspace(0, len(real) - 1, examples).round()]
    chosen += [("simulated", simulated[int(i)]) for i in np.linspace(0, len(simulated) - 1, examples).round()]
    for column, (kind, (image, label, spacing, name)) in enumerate(chosen):
        for row, (array, options) in enumerate(((image, {"cmap": "gray", "vmin": 0, "vmax": 255}),
                                               (label, {"cmap": label_map, "vmin": 0, "vmax": 2,
                                                        "interpolation": "nearest"}))):
            axis = fig.add_subplot(top[row, column])
            axis.imshow(array, **options)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(f"{kind}: {name}\n{array.shape[0] * spacing:.1f} nm wide", fontsize=8)
    bottom = outer[1].subgridspec(1, 4, wspace=0.3)
    styles = {"real": "-", "simulated": "--"}
    axis = fig.add_subplot(bottom[0])
    for kind, summary in summaries.items():
        for c, name in enumerate(CLASS_NAMES):
            axis.plot(np.arange(256), summary["histograms"][name], styles[kind], color=CLASS_COLOURS[c],
                      label=f"{name}, {kind}")
    axis.set(yscale="log", ylim=(1e-5, 1), xlabel="8-bit level", ylabel="density", title="levels per class")
    axis.legend(fontsize=6)
    axis = fig.add_subplot(bottom[1])
    for kind, summary in summaries.items():
        spectrum = summary["spectrum"]
        frequency = spectrum["frequency_cycles_per_nm"] or spectrum["frequency_fraction_nyquist"]
        axis.plot(frequency, spectrum["image"], styles[kind], color="k", label=f"image, {kind}")
        axis.plot(frequency, spectrum["residual"], styles[kind], color="tab:red", label=f"residual, {kind}")
    axis.set(xscale="log", yscale="log", xlabel="frequency (cycles / nm)", ylabel="power / mean power",
             title="radial power spectrum")
    axis.legend(fontsize=6)
    axis = fig.add_subplot(bottom[2])
    for kind, summary in summaries.items():
        axis.plot(summary["angular"]["angle_deg"], summary["angular"]["residual"], styles[kind], color="tab:red",
                  label=kind)
    axis.set(xlabel="frequency direction (deg; 0 = along x, 90 = along axis 0)", ylabel="power / mean power",
             title="residual power, 0.1-0.5 Nyquist")
    axis.legend(fontsize=6)
    axis = fig.add_subplot(bottom[3])
    values = {kind: summary["pt_diameters_nm"]["values"] for kind, summary in summaries.items()}
    top_nm = max([max(v) for v in values.values() if v] + [1.0])
    bins = np.linspace(0, top_nm, 30)
    for kind, diameters in values.items():
        if diameters:
            axis.hist(diameters, bins=bins, density=True, histtype="step", linestyle=styles[kind],
                      label=f"{kind} (n = {len(diameters)})")
    axis.set(xlabel="Pt equivalent-circle diameter (nm)", ylabel="density", title="Pt particles per slice")
    axis.legend(fontsize=6)
    save_figure(fig, path)


def finite(value):
    """``value`` with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REPO.parent / "shared" / "data" / "genc2022",
                        help="the authors' data folder (default ../shared/data/genc2022)")
    parser.add_argument("--simulated", type=Path, help="folder of simulated volumes (volume_NNN with labels.nii.gz); "
                                                       "default: simulate --volumes into a temporary folder")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "realism",
                        help="folder for realism.png and realism.json")
    parser.add_argument("--slices", type=int, default=8, help="slices per simulated volume (default 8)")
    parser.add_argument("--plane", choices=["xy", "xyT", "zx"], default="xyT",
                        help="simulated slices: xy normal to the beam as (y, x) arrays, the tilt axis along axis 0 "
                             "(default); xyT the same transposed, the tilt axis along axis 1 as in the real patches "
                             "(their reconstruction streaks run along axis 0); zx across the tilt axis")
    parser.add_argument("--label-margin-nm", type=float, default=0.0,
                        help="grow the simulated slices' labels by this much, as the embedded dataset's "
                             "simulation#label_margin_nm does (default 0: the exact labels)")
    parser.add_argument("--max-real", type=int, help="read at most this many real patches (default all 60)")
    parser.add_argument("--metadata", type=Path, default=REPO / "bundle" / "configs" / "metadata.json",
                        help="bundle metadata.json whose intensity_mapping maps simulated reconstructions")
    parser.add_argument("--volumes", type=int, default=3, help="volumes to simulate without --simulated (default 3)")
    parser.add_argument("--shape", type=int, nargs=3, default=[128, 128, 128], metavar=("Z", "Y", "X"),
                        help="their shape (default 128 128 128, as catseg3d simulate)")
    parser.add_argument("--seed", type=int, default=0, help="their series seed (default 0)")
    args = parser.parse_args()
    if args.slices < 1 or (args.max_real is not None and args.max_real < 1):
        raise SystemExit(f"--slices and --max-real must be at least 1, got {args.slices} and {args.max_real}")
    start = time.perf_counter()
    mapping = IntensityMapping.from_metadata(json.loads(args.metadata.read_text()))
    real, training_levels = real_patches(args.real, args.max_real)
    with tempfile.TemporaryDirectory() as work:
        source = args.simulated
        if source is None:
            source = Path(work)
            simulate_series(source, args.volumes, args.shape, args.seed, progress=False)
        simulated = simulated_slices(source, mapping, args.slices, args.plane, args.label_margin_nm)
    summaries = {"real": realism_summary(s[:3] for s in real),
                 "simulated": realism_summary(s[:3] for s in simulated)}
    text, gaps = table(summaries["real"], summaries["simulated"])
    args.out.mkdir(parents=True, exist_ok=True)
    figure(real, simulated, summaries, args.out / "realism.png")
    seconds = time.perf_counter() - start
    report = {"command": " ".join(sys.argv), "real_source": str(args.real),
              "simulated_source": str(args.simulated) if args.simulated else
              f"simulated: {args.volumes} volume(s) {args.shape} (z, y, x), seed {args.seed}, default settings",
              "plane": args.plane, "label_margin_nm": args.label_margin_nm,
              "simulated_mapping": {"mode": "percentile", **mapping.as_metadata()},
              "real_training_pooled_levels": training_levels, "gaps_in_real_sd": gaps, **summaries,
              "table": text, "seconds": seconds}
    write_text(args.out / "realism.json", json.dumps(finite(report), indent=1, allow_nan=False))
    print(text)
    print("\ncheck, real training patches, all pixels: " + ", ".join(
        f"{name} {v['mean']:.1f} ± {v['sd']:.1f} (stated {STATED_REAL_LEVELS[name][0]:g} ± "
        f"{STATED_REAL_LEVELS[name][1]:g})" for name, v in training_levels.items() if v["pixels"]))
    largest = sorted((k for k in gaps if math.isfinite(gaps[k])), key=lambda k: -abs(gaps[k]))[:3]
    print("largest gaps (real SDs): " + ", ".join(f"{k} {gaps[k]:+.2f}" for k in largest))
    print(f"{len(real)} real patches, {len(simulated)} simulated {args.plane} slices; wrote {args.out / 'realism.png'} "
          f"and realism.json in {seconds:.1f} s")


if __name__ == "__main__":
    main()
