"""How consistent are a model's labels from slice to slice on a real volume without labels?

Each model segments each volume with ``catseg3d segment`` as ``compare_on_simulated.py`` runs it (2D
models slice by slice normal to the beam, or on several planes averaged, ``NAME=PATH@xy,xz,yz``; 3D
models in 3D windows), and the label map is measured with ``catseg3d.metrics.consistency``: the
fraction of neighbouring voxel pairs whose labels differ along z (the beam, the stacking axis of the
2D path), y and x, and z over the mean of y and x. With no truth to compare with, a ratio well above
the other paths' (and above 1 for structures without a preferred direction) says the labels
flicker between slices.

    catseg3d reconstruct ../shared/data/formats/nist-etspy-haadf/HAADF.dm3 runs/zcons/nist_rod.nii.gz --tilt-axis x
    python scripts/z_consistency.py runs/zcons/nist_rod.nii.gz --tilt-axis x --models "2D=bundle" "2D tri-planar=bundle@xy,xz,yz" \\
        --segment-options="--no-resample"
"""

from __future__ import annotations

import argparse
import shlex
import tempfile
from pathlib import Path

import numpy as np
from compare_on_simulated import as_bundle, segment

from catseg3d.io import read_nifti, read_volume
from catseg3d.metrics.consistency import slice_changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("volume", type=Path, nargs="+", help="reconstructions (anything catseg3d segment reads)")
    parser.add_argument("--models", nargs="+", required=True,
                        help="NAME=PATH (bundle or run folder, model.pt), NAME=PATH@xy,xz,yz (tri-planar)")
    parser.add_argument("--border", type=int, default=32, help="pixels mirrored at each slice edge (0: none)")
    parser.add_argument("--segment-options", default="", help="more catseg3d segment options, e.g. --no-resample")
    parser.add_argument("--tilt-axis", choices=("y", "x"), default="y",
                        help="the volumes' tilt axis (catseg3d reconstruct --tilt-axis; default y)")
    parser.add_argument("--predictions", type=Path, help="keep the label maps here")
    parser.add_argument("--figure", type=Path, help="draw each volume's middle (z, x) plane and each model's "
                                                    "labels there (where flicker between z slices shows) to this PNG")
    args = parser.parse_args()
    header = "| volume | model | fractions background / alumina / Pt | label changes z / y / x | z over y, x | s |"
    rows = [header, "|---" * (header.count("|") - 1) + "|"]
    if args.predictions:
        args.predictions.mkdir(parents=True, exist_ok=True)
    panels = {volume: [("reconstruction", read_volume(volume).array, None)] for volume in args.volume}
    with tempfile.TemporaryDirectory() as work:
        for index, spec in enumerate(args.models):
            name, path = spec.rsplit("=", 1)
            path, _, planes = path.partition("@")
            bundle = as_bundle(Path(path), Path(work) / f"bundle_{index}")
            for volume in args.volume:
                out = (args.predictions or Path(work)) / f"{index}_{volume.name.split('.')[0]}.nii.gz"
                seconds = segment(volume, bundle, out, args.border, planes or None, Path(work),
                                  shlex.split(args.segment_options), args.tilt_axis)
                labels = read_nifti(out).array
                panels[volume].append((name, labels, 2))
                fractions = np.bincount(labels.ravel(), minlength=3)[:3] / labels.size
                changes = slice_changes(labels)
                ratio = changes.stack_ratio("z")
                rows.append(f"| {volume.name} | {name} | {' / '.join(f'{f:.3f}' for f in fractions)} "
                            f"| {changes.z:.4f} / {changes.y:.4f} / {changes.x:.4f} "
                            f"| {'n/a' if ratio is None else f'{ratio:.2f}'} | {seconds:.1f} |")
                print(rows[-1], flush=True)
    print("\n" + "\n".join(rows))
    if args.figure:
        draw(panels, args.figure)


def draw(panels: dict, path: Path, columns: int = 3) -> None:
    """Each volume's middle ``(z, x)`` plane, then each model's labels on that plane, ``columns`` to a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sum(-(-len(row) // columns) for row in panels.values())
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
    slots = iter(axes.ravel())
    for volume, row in panels.items():
        used = 0
        for name, array, top in row:
            axis = next(slots)
            used += 1
            axis.imshow(array[:, array.shape[1] // 2], cmap="gray" if top is None else "viridis",
                        vmin=0 if top else None, vmax=top, interpolation="nearest")
            axis.set_title(f"{volume.name}: {name}" if top is None else name, fontsize=9)
            axis.set_xlabel("x")
            axis.set_ylabel("z")
        for _ in range(-used % columns):
            next(slots).axis("off")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)


if __name__ == "__main__":
    main()
