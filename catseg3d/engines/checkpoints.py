"""Checkpoint files: saving them so that runs can move, and finding the one to resume from."""

from __future__ import annotations

import os
import re
from pathlib import Path

import ignite.distributed as idist
import torch
from ignite.handlers import DiskSaver

from catseg3d.io.errors import InputError
from catseg3d.networks import paper_unet_features

CHECKPOINT_PATTERN = re.compile(r"checkpoint_epoch=(\d+)\.pt$")


def latest_checkpoint(ckpt_dir: str | os.PathLike) -> str | None:
    """The ``checkpoint_epoch=N.pt`` with the largest ``N`` in ``ckpt_dir``, or None if none.

    These are the full training states (network, optimizer, trainer, the savers' records) that
    the bundle's ``train#state_saver`` writes every epoch.
    """
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.search(p.name))]
    return str(max(found)[1]) if found else None


def resume_checkpoint(ckpt_dir: str | os.PathLike) -> str:
    """Like :func:`latest_checkpoint`, but a missing checkpoint is an :class:`InputError`.

    Used by the bundle's ``resume`` option: asking to resume with nothing to resume from stops
    the run with one line instead of silently starting over.
    """
    path = latest_checkpoint(ckpt_dir)
    if path is None:
        raise InputError(ckpt_dir, "no checkpoint_epoch=N.pt to resume from")
    return path


SAVED_SINCE_0_10_4 = ("compute_time",)


def parts_to_resume(load_dict: dict, checkpoint: str | os.PathLike) -> dict:
    """The parts of a training state to load from ``checkpoint``: ``load_dict`` without the entries
    that checkpoints began to hold later (the compute-time count, bundle 0.10.4) where this older
    checkpoint lacks them, so that such a run resumes (its count starting at 0). Every other entry
    is kept: a checkpoint without its network or optimizer still fails to load."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return {k: v for k, v in load_dict.items() if k in saved or k not in SAVED_SINCE_0_10_4}


def completed_epochs(ckpt_dir: str | os.PathLike) -> int:
    """The epoch ``N`` of the newest ``checkpoint_epoch=N.pt`` in ``ckpt_dir`` (0 if none)."""
    latest = latest_checkpoint(ckpt_dir)
    return int(CHECKPOINT_PATTERN.search(Path(latest).name).group(1)) if latest else 0


def trained_model(ckpt_dir: str | os.PathLike, checkpoint: str = "best") -> str:
    """The file holding the trained network in ``ckpt_dir``.

    ``checkpoint="best"``: ``model.pt``, the network of the epoch with the best validation score
    (a flat state_dict). ``"last"``: the newest ``checkpoint_epoch=N.pt`` (a full training state
    whose ``model`` entry is the network), i.e. the network chosen without looking at the
    validation images, as a cross-validation fold must be scored. A missing file or another value
    is an :class:`InputError`.
    """
    if checkpoint == "last":
        path = latest_checkpoint(ckpt_dir)
        if path is None:
            raise InputError(ckpt_dir, "no checkpoint_epoch=N.pt to evaluate")
        return path
    if checkpoint != "best":
        raise InputError("checkpoint", f"must be 'best' or 'last', not {checkpoint!r}")
    path = Path(ckpt_dir) / "model.pt"
    if not path.is_file():
        raise InputError(path, "no trained model; train one first (the bundle's training workflow, "
                               "python -m monai.bundle run training --config_file .../configs/train.yaml)")
    return str(path)


def trained_state(path: str | os.PathLike) -> dict:
    """The PaperUNet state_dict saved in ``path``, loaded once with ``weights_only=True``.

    ``path`` is a flat state_dict (``model.pt``) or a full training state whose ``model`` entry is
    one (``checkpoint_epoch=N.pt``), as :func:`trained_model` returns them. Anything else is an
    :class:`InputError` naming the file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(path, f"cannot load model weights ({str(error).splitlines()[0]})") from None
    state = state.get("model", state) if isinstance(state, dict) else state
    try:
        paper_unet_features(state)
    except (KeyError, AttributeError, TypeError) as error:
        raise InputError(path, f"not the weights of a catseg3d PaperUNet (no {error})") from None
    return state


def trained_features(path: str | os.PathLike) -> list[int]:
    """The ``features`` (channels of each down step) of the PaperUNet saved in ``path``
    (see :func:`trained_state`).

    The evaluation and inference configs build their network with these, so a model of any width
    (``train.yaml``'s, ``train_best.yaml``'s) loads without naming its training config.
    """
    return paper_unet_features(trained_state(path))


def trained_classes(path: str | os.PathLike) -> int:
    """The number of output classes of the PaperUNet saved in ``path`` (see :func:`trained_state`),
    so that a fine-tuned model with other classes loads in the evaluation and inference configs."""
    state = trained_state(path)
    if "head.weight" not in state:
        raise InputError(path, "not the weights of a catseg3d PaperUNet (no 'head.weight')")
    return int(state["head.weight"].shape[0])


class RelocatableDiskSaver(DiskSaver):
    """Ignite's atomic ``DiskSaver`` whose ``remove`` ignores a file that is already gone.

    A resumed run restores its savers' records of earlier files; when a checkpoint was copied to
    another folder without those files (or they were deleted), Ignite's own ``remove`` would raise
    ``FileNotFoundError`` at the next save.
    """

    def remove(self, filename: str) -> None:
        if idist.get_rank() == self.save_on_rank:  # like saving, on one process only
            (Path(self.dirname) / filename).unlink(missing_ok=True)
