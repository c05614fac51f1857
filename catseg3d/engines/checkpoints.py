"""Finding the checkpoint to resume training from."""

from __future__ import annotations

import os
import re
from pathlib import Path

CHECKPOINT_PATTERN = re.compile(r"checkpoint_epoch=(\d+)\.pt$")


def latest_checkpoint(ckpt_dir: str | os.PathLike) -> str | None:
    """The ``checkpoint_epoch=N.pt`` with the largest ``N`` in ``ckpt_dir``, or None if none.

    These are the full training states (network, optimizer, trainer) that the bundle's
    ``CheckpointSaver`` writes every epoch.
    """
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.search(p.name))]
    return str(max(found)[1]) if found else None


def resume_checkpoint(ckpt_dir: str | os.PathLike) -> str:
    """Like :func:`latest_checkpoint`, but a missing checkpoint is an error (``SystemExit``).

    Used by the bundle's ``resume`` option: asking to resume with nothing to resume from stops
    the run with one line instead of silently starting over.
    """
    path = latest_checkpoint(ckpt_dir)
    if path is None:
        raise SystemExit(f"catseg3d: {ckpt_dir}: no checkpoint_epoch=N.pt to resume from")
    return path
