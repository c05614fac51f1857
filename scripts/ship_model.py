"""Make a trained network the bundle's shipped model: its weights in float16 as ``models/model.pt``.

Takes a flat state_dict (a run's ``models/model.pt``) or a full training state
(``checkpoint_epoch=N.pt``, its ``model`` entry), checks that it is a catseg3d PaperUNet, and writes
the float16 copy atomically (a failed write leaves the old model in place). float16 halves the file;
``catseg3d segment`` and the bundle's workflows load it back in float32 (or bfloat16), and
``python scripts/evaluate_genc2022.py`` shows what the rounding costs.

    python scripts/ship_model.py runs/experiments/best64_elastic/models/model.pt [--bundle bundle]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from catseg3d.engines import trained_state
from catseg3d.io.atomic import atomic_path
from catseg3d.io.errors import InputError
from catseg3d.networks import paper_unet_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help="model.pt or checkpoint_epoch=N.pt of a training run")
    parser.add_argument("--bundle", type=Path, default=Path("bundle"))
    args = parser.parse_args()
    try:
        state = trained_state(args.weights)
    except InputError as error:  # anything but PaperUNet weights
        raise SystemExit(f"catseg3d: error: {error}") from None
    target = args.bundle / "models" / "model.pt"
    with atomic_path(target) as tmp:
        torch.save({key: value.half() for key, value in state.items()}, tmp)
    parameters = sum(value.numel() for value in state.values())
    print(f"{target}: {parameters:,} parameters (features {paper_unet_features(state)}) in float16, {target.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
