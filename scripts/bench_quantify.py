"""Time and peak memory of the quantification of one tomogram-sized label volume.

A phantom of the paper's deployment stack (702 x 1024 x 512 voxels at 0.12 nm, uint8 labels, seed
0): a plate-like alumina particle (a superellipsoid of 74 x 108 x 37 nm) holding 1000 spherical
pores of 2-6 nm diameter (those cut by its surface are open pores, the others enclosed), and 310
Pt spheres of 1-4 nm diameter: 300 placed on the plate's smooth surface overlapping it by 0.2 nm
(some over a pore's mouth, some merging: 259 particles, 91 % attached), 10 floating 0.5-3 nm above
it. ``catseg3d.quantify.quantify_labels`` (Pt particles, alumina volume and surfaces, enclosed and
open pores) runs ``--repeats`` times, each in a child process forked from the one holding the
phantom, whose peak resident memory (``os.wait4``) includes the labels.

    python scripts/bench_quantify.py [--shape 702 1024 512] [--repeats 3] [--meshes]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

SPACING_NM = 0.12


def plate(z: np.ndarray, y: np.ndarray, x: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The plate's implicit function (<= 1 inside) at voxel coordinates ``z, y, x`` (broadcast)."""
    nz, ny, nx = shape
    return ((z - nz / 2) / (0.44 * nz)) ** 4 + ((y - ny / 2) / (0.44 * ny)) ** 4 + ((x - nx / 2) / (0.3 * nx)) ** 2


def draw_ball(labels: np.ndarray, centre: np.ndarray, radius: float, value: int, only: int | None = None) -> None:
    """Set the voxels within ``radius`` voxels of ``centre`` ``(z, y, x)`` to ``value`` (where ``only``)."""
    low = np.maximum(np.floor(centre - radius).astype(int), 0)
    high = np.minimum(np.ceil(centre + radius).astype(int) + 1, labels.shape)
    if np.any(high <= low):
        return
    grid = np.ogrid[tuple(slice(a, b) for a, b in zip(low, high))]
    inside = sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius ** 2
    view = labels[tuple(slice(a, b) for a, b in zip(low, high))]
    if only is not None:
        inside &= view == only
    view[inside] = value


def phantom(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """uint8 ``(z, y, x)`` labels (0 background/pores, 1 alumina, 2 Pt) at :data:`SPACING_NM`, built slab by slab."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint8)
    y = np.arange(shape[1], dtype=np.float32)[None, :, None]
    x = np.arange(shape[2], dtype=np.float32)[None, None, :]
    for start in range(0, shape[0], 32):
        z = np.arange(start, min(start + 32, shape[0]), dtype=np.float32)[:, None, None]
        labels[start:start + 32][plate(z, y, x, shape) <= 1] = 1
    pores = 0
    while pores < 1000:
        centre = rng.uniform(0, shape)
        if plate(*centre, shape) <= 1.1:
            draw_ball(labels, centre, rng.uniform(1, 3) / SPACING_NM, 0)
            pores += 1
    middle = np.array(shape) / 2
    half_axes = np.array([0.44, 0.44, 0.3]) * shape
    for index in range(310):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        inside, outside = 0.0, float(max(shape))
        for _ in range(40):  # bisection for the plate's surface along the ray
            t = (inside + outside) / 2
            inside, outside = (t, outside) if plate(*(middle + t * direction), shape) <= 1 else (inside, t)
        point = middle + inside * direction
        offset = point - middle
        normal = np.array([4, 4, 2]) * offset ** np.array([3, 3, 1]) / half_axes ** np.array([4, 4, 2])
        normal /= np.linalg.norm(normal)
        radius = rng.uniform(0.5, 2.0) / SPACING_NM
        gap = -0.2 / SPACING_NM if index < 300 else rng.uniform(0.5, 3.0) / SPACING_NM
        draw_ball(labels, point + normal * (radius + gap), radius, 2, only=0)
    return labels


def run(labels: np.ndarray, meshes: bool) -> tuple[dict, float, float]:
    """Quantify in a forked child: ``(summary, seconds, peak RSS in GB of the child)``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: quantify, report through the pipe
        os.close(read)
        from catseg3d.io import Volume
        from catseg3d.quantify import class_mesh, quantify_labels

        started = time.perf_counter()
        stats, particles = quantify_labels(Volume(labels, (SPACING_NM,) * 3))
        if meshes:
            for label in (1, 2):
                class_mesh(labels == label, (SPACING_NM,) * 3)
        seconds = time.perf_counter() - started
        a = stats["alumina"]
        summary = {"seconds": seconds, "pt": stats["pt"]["count"], "attached": stats["pt"]["attached_fraction"],
                   "floating_nm": sorted(round(p.distance_nm, 2) for p in particles if not p.attached),
                   **{key: a[key] for key in ("support_volume_nm3", "external_surface_nm2", "pore_count",
                                              "pore_volume_fraction", "pore_surface_nm2", "open_pore_count",
                                              "open_pore_volume_fraction")}}
        with os.fdopen(write, "w") as pipe:
            json.dump(summary, pipe)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        summary = json.loads(pipe.read() or "{}")
    _, status, usage = os.wait4(pid, 0)
    if status != 0 or not summary:
        raise RuntimeError(f"the quantifying child failed (status {status})")
    return summary, summary.pop("seconds"), usage.ru_maxrss / 1024 ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[702, 1024, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--meshes", action="store_true", help="also mesh alumina and Pt (catseg3d.quantify.class_mesh)")
    args = parser.parse_args()
    shape = tuple(args.shape)
    started = time.perf_counter()
    labels = phantom(shape)
    print(f"phantom {shape} at {SPACING_NM} nm: {time.perf_counter() - started:.0f} s, "
          f"{labels.nbytes / 1024 ** 3:.2f} GB of uint8 labels; load average {os.getloadavg()[0]:.2f}")
    seconds, peaks = [], []
    for _ in range(args.repeats):
        summary, time_s, peak_gb = run(labels, args.meshes)
        seconds.append(time_s)
        peaks.append(peak_gb)
        print(f"  {time_s:.1f} s, peak RSS {peak_gb:.2f} GB", flush=True)
    print(json.dumps(summary))
    print(f"quantify_labels{' + meshes' if args.meshes else ''}: median {statistics.median(seconds):.1f} s "
          f"(min {min(seconds):.1f}, max {max(seconds):.1f}) over {args.repeats} runs, peak RSS "
          f"{max(peaks):.2f} GB; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
