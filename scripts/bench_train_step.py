"""Seconds per training step of the paper's U-Net: plain float32 against the bundle's CPU path.

One step = forward, weighted focal loss, backward and an Adam update on a batch of 2 x 1 x 512 x 512
(the paper's recipe). Both paths start from the same weights and see the same batch; their steps
alternate in one process and the medians of ``--repeats`` steps are compared.

With ``--widths``, the bundle's path (bfloat16 + channels-last) at several widths instead: the
first level's feature count, doubled at each of the six levels (the paper: 32, so 32..1024); the
ratios are against the first width given.

    python scripts/bench_train_step.py [--repeats 5] [--threads N]
    python scripts/bench_train_step.py --widths 32 16 8
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from monai.inferers import SimpleInferer

from catseg3d.inferers import AutocastInferer
from catseg3d.losses import WeightedFocalLoss
from catseg3d.networks import PaperUNet, place_network


def make_step(network, inferer, loss_function):
    optimizer = torch.optim.Adam(network.parameters(), lr=5e-4)

    def step(image, label):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(inferer(image, network), label)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--widths", type=int, nargs="+", help="compare these first-level widths (bfloat16 path)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = torch.rand(2, 1, args.size, args.size)
    label = torch.randint(0, 3, (2, 1, args.size, args.size))
    loss_function = WeightedFocalLoss((0.2, 0.3, 0.5), 1.0)
    if args.widths:
        paths = {f"width {w} ({w}..{w * 32})": make_step(place_network(PaperUNet(features=[w * 2 ** k for k in range(6)]),
                                                                        "cpu"), AutocastInferer(), loss_function)
                 for w in args.widths}
    else:
        base = PaperUNet()
        paths = {
            "float32": make_step(copy.deepcopy(base), SimpleInferer(), loss_function),
            "bfloat16+channels_last": make_step(place_network(copy.deepcopy(base), "cpu"), AutocastInferer(),
                                                loss_function),
        }
    times = {name: [] for name in paths}
    for name, step in paths.items():  # warm-up
        step(image, label)
    for _ in range(args.repeats):
        for name, step in paths.items():
            start = time.perf_counter()
            step(image, label)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 2 x 1 x {args.size} x {args.size}, "
          f"median of {args.repeats} steps")
    for name, median in medians.items():
        print(f"{name:>24}: {median:6.2f} s/step  (all: {', '.join(f'{t:.2f}' for t in times[name])})")
    baseline = next(iter(medians.values()))
    for name, median in list(medians.items())[1:]:
        print(f"{'speed-up of ' + name:>24}: {baseline / median:6.2f}x")


if __name__ == "__main__":
    main()
