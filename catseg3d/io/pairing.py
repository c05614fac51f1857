"""Pair prediction and ground-truth files by name."""

from __future__ import annotations

import os
from pathlib import Path

from catseg3d.io.errors import InputError


def image_files(folder: Path) -> dict[str, Path]:
    """The visible files of ``folder`` by name."""
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def pair_by_name(pred: str | os.PathLike, truth: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """``(name, pred_file, truth_file)`` for two files, or for two folders matched by file name.

    Raises:
        InputError: a path is missing, one is a file and the other a folder, a folder is empty,
            or a file has no partner of the same name.
    """
    pred, truth = Path(pred), Path(truth)
    for path in (pred, truth):
        if not path.exists():
            raise InputError(path, "no such file or folder")
    if pred.is_file() and truth.is_file():
        return [(truth.name, pred, truth)]
    if not (pred.is_dir() and truth.is_dir()):
        raise InputError(pred, f"prediction and truth must both be files or both folders ({truth})")
    preds, truths = image_files(pred), image_files(truth)
    if not truths:
        raise InputError(truth, "folder holds no files")
    for names, folder, other in ((preds, pred, truths), (truths, truth, preds)):
        unmatched = sorted(set(names) - set(other))
        if unmatched:
            raise InputError(folder / unmatched[0], f"no file of the same name in the other folder "
                                                     f"({len(unmatched)} unmatched)")
    return [(name, preds[name], truths[name]) for name in sorted(truths)]
