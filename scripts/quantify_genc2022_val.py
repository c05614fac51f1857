"""Pt particle statistics of the 15 Genc et al. (2022) validation patches: truth against prediction.

Each patch is predicted whole by the bundle's model (float32, mirrored outward by ``--border``
pixels and cropped back, as in the bundle's evaluation); Pt particles are measured in both
label maps with ``catseg3d.quantify.measure_particles`` (8-connected, equivalent-circle diameter
in nm at 0.12 nm/pixel, attachment to alumina within one pixel).

    python scripts/quantify_genc2022_val.py [--model bundle/models/model.pt] [--dataset_dir data/genc2022] [--border 32]
"""

from __future__ import annotations

import argparse

import numpy as np
from evaluate_genc2022 import load_network_and_preprocessing, predict

from catseg3d.inferers import AutocastInferer
from catseg3d.io import load_datalist
from catseg3d.io.genc2022 import GENC2022_SPACING_NM
from catseg3d.quantify import measure_particles


def summary(particles) -> str:
    if not particles:
        return "0 particles"
    diameters = np.array([p.diameter_nm for p in particles])
    attached = np.mean([p.attached for p in particles])
    return (f"{len(particles)} particles, diameter {diameters.mean():.2f} ± {diameters.std(ddof=1):.2f} nm (SD), "
            f"median {np.median(diameters):.2f} nm, {100 * attached:.0f} % attached to alumina")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundle/models/model.pt")
    parser.add_argument("--dataset_dir", default="data/genc2022")
    parser.add_argument("--min-size", type=int, default=1, help="smallest particle in pixels")
    parser.add_argument("--border", type=int, default=32, help="pixels mirrored at each patch edge (0: none)")
    args = parser.parse_args()
    network, preprocessing = load_network_and_preprocessing(args.model)
    spacing = (GENC2022_SPACING_NM,) * 2
    totals = {"truth": [], "prediction": []}
    print("| patch | Pt particles (truth) | Pt particles (prediction) |\n|---|---|---|")
    items = load_datalist(args.dataset_dir, "validation")
    inferer = AutocastInferer(enabled=False, channels_last=False)
    for index, (truth, pred) in enumerate(predict(network, preprocessing, items, inferer, args.border)):
        found = {name: measure_particles(labels, spacing, min_voxels=args.min_size)
                 for name, labels in (("truth", truth), ("prediction", pred))}
        for name, particles in found.items():
            totals[name] += particles
        print(f"| {index} | {len(found['truth'])} | {len(found['prediction'])} |")
    for name, particles in totals.items():
        print(f"\n{name}: {summary(particles)}")


if __name__ == "__main__":
    main()
