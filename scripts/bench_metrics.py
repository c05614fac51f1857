"""Time and peak memory of the full evaluation of one tomogram-sized pair of label volumes.

A phantom of the paper's deployment stack (702 x 1024 x 512 voxels at 0.12 nm, uint8 labels): an
alumina body permeated by a gyroid pore network of 2.9 nm period (so that its surface has more than
2^24 voxels, beyond torch.quantile's limit), with Pt particles; the prediction is the truth moved by one voxel with a
fraction of the Pt particles missed and some false ones added. The real evaluation path
(``catseg3d.metrics.Evaluation.add``: confusion matrix, DSC/precision/recall, robust Hausdorff at
six percentiles for alumina and Pt) runs once on the whole volume and once slice by slice.

    python scripts/bench_metrics.py [--shape 702 1024 512] [--no-per-slice]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from scipy.ndimage import binary_erosion

from catseg3d.metrics import Evaluation


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def phantom(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(truth, prediction)`` uint8 ``(z, y, x)`` volumes, built slab by slab."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    truth = np.zeros(shape, np.uint8)
    z, y, x = (np.arange(n, dtype=np.float32) for n in shape)
    k = np.float32(2 * np.pi / 24)  # pore-network period: 24 voxels = 2.9 nm
    for start in range(0, nz, 32):
        zs = z[start:start + 32, None, None]
        ys, xs = y[None, :, None], x[None, None, :]
        body = ((zs - nz / 2) / (0.48 * nz)) ** 2 + ((ys - ny / 2) / (0.48 * ny)) ** 2 \
            + ((xs - nx / 2) / (0.48 * nx)) ** 2 <= 1.5
        gyroid = np.sin(k * xs) * np.cos(k * ys) + np.sin(k * ys) * np.cos(k * zs) + np.sin(k * zs) * np.cos(k * xs)
        truth[start:start + 32][body & (gyroid < 0.5)] = 1
    pt = rng.uniform([8, 8, 8], np.array(shape) - 8, (3000, 3)).astype(int)
    for pz, py, px in pt:
        truth[pz - 3:pz + 4, py - 3:py + 4, px - 3:px + 4] = 2
    prediction = np.roll(truth, 1, axis=2)
    for pz, py, px in pt[: len(pt) // 10]:  # 10 % of the particles missed
        prediction[pz - 2:pz + 5, py - 3:py + 4, px - 3:px + 4] = 1
    for pz, py, px in rng.uniform([8, 8, 8], np.array(shape) - 8, (300, 3)).astype(int):  # false ones
        prediction[pz - 2:pz + 2, py - 2:py + 2, px - 2:px + 2] = 2
    return truth, prediction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[702, 1024, 512])
    parser.add_argument("--spacing", type=float, default=0.12)
    parser.add_argument("--no-per-slice", action="store_true")
    args = parser.parse_args()
    shape = tuple(args.shape)
    started = time.perf_counter()
    truth, prediction = phantom(shape)
    print(f"phantom {shape}: {time.perf_counter() - started:.0f} s, peak RSS {peak_rss_gb():.2f} GB "
          f"(the two uint8 volumes: {2 * truth.nbytes / 1024 ** 3:.2f} GB)")
    alumina = truth == 1
    surface = int((alumina ^ binary_erosion(alumina)).sum())
    del alumina
    print(f"alumina surface voxels in the truth: {surface:,} ({surface / 2 ** 24:.1f} x 2^24, "
          "the torch.quantile limit)")
    evaluation = Evaluation()
    started = time.perf_counter()
    evaluation.add("volume", prediction, truth, (args.spacing,) * 3)
    minutes = (time.perf_counter() - started) / 60
    report = evaluation.report()
    print(f"whole volume: {minutes:.2f} min, peak RSS {peak_rss_gb():.2f} GB; "
          f"DSC alumina {report['metrics']['dsc']['alumina']['mean']:.4f}, "
          f"Pt {report['metrics']['dsc']['pt']['mean']:.4f}; RHD95 alumina "
          f"{report['rhd_nm']['alumina']['95']['mean']:.3f} nm, Pt {report['rhd_nm']['pt']['95']['mean']:.3f} nm")
    if not args.no_per_slice:
        evaluation = Evaluation()
        started = time.perf_counter()
        evaluation.add_slices("volume", prediction, truth, (args.spacing,) * 3)
        minutes = (time.perf_counter() - started) / 60
        report = evaluation.report()
        print(f"per slice ({shape[0]} slices): {minutes:.2f} min, peak RSS {peak_rss_gb():.2f} GB; "
              f"RHD95 Pt {report['rhd_nm']['pt']['95']['mean']:.3f} ± {report['rhd_nm']['pt']['95']['se']:.3f} nm "
              f"(n={report['rhd_nm']['pt']['95']['n']}, undefined {report['rhd_nm']['pt']['95']['n_undefined']})")


if __name__ == "__main__":
    main()
