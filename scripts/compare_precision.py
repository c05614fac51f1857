"""Does bfloat16 + channels-last training cost accuracy? Continue one checkpoint both ways and compare.

From the same full-state checkpoint (``checkpoint_epoch=N.pt`` of a real training run), the bundle
trains ``--epochs`` more epochs twice, with the same seed and therefore the same batches and
augmentations: once in plain float32, once with the default bfloat16 autocast + channels-last. Both
results are scored in float32 on the validation patches (mean DSC per class +/- 95 % CI; each
patch mirrored outward by ``--border`` pixels, 0: the plain patch), with the wall time of each run.

    python scripts/compare_precision.py bundle/models/checkpoint_epoch=N.pt [--epochs 2] [--border 32]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evaluate_genc2022 import CLASSES, evaluate

MODES = {"float32": ["--autocast", "false", "--channels_last", "false"], "bfloat16 + channels-last": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train from the checkpoint")
    parser.add_argument("--dataset_dir", default="data/genc2022")
    parser.add_argument("--border", type=int, default=32, help="pixels mirrored at each patch edge (0: none)")
    args = parser.parse_args()
    start_epoch = int(re.search(r"checkpoint_epoch=(\d+)\.pt$", args.checkpoint.name).group(1))
    end_epoch = start_epoch + args.epochs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode, overrides in MODES.items():
            root = Path(tmp) / mode.replace(" ", "_")
            (root / "models").mkdir(parents=True)
            shutil.copy(args.checkpoint, root / "models" / args.checkpoint.name)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "monai.bundle", "run", "training", "--config_file",
                            "bundle/configs/train.yaml", "--bundle_root", str(root), "--dataset_dir",
                            args.dataset_dir, "--resume", "true", "--epochs", str(end_epoch), *overrides],
                           check=True, stdout=subprocess.DEVNULL)
            minutes = (time.perf_counter() - started) / 60
            final = root / "models" / f"checkpoint_epoch={end_epoch}.pt"
            summary = evaluate(str(final), args.dataset_dir, inferers=("float32",),
                               border=args.border)["float32"]
            rows.append((mode, minutes, summary["mean"]["dsc"]))
    print(f"epochs {start_epoch} -> {end_epoch} from {args.checkpoint}, validation DSC (float32 inference)\n")
    print("| training precision | minutes | " + " | ".join(CLASSES) + " |")
    print("|---|---|" + "---|" * len(CLASSES))
    for mode, minutes, dsc in rows:
        cells = " | ".join(f"{dsc[c]['mean']:.3f} ± {dsc[c]['ci95']:.3f}" for c in CLASSES)
        print(f"| {mode} | {minutes:.1f} | {cells} |")


if __name__ == "__main__":
    main()
