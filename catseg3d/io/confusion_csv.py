"""The authors' per-image confusion-matrix CSV files (Genc et al. 2022)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from catseg3d.io.errors import InputError


def read_confusion_csv(path: str | os.PathLike) -> np.ndarray:
    """Read one matrix: a header row ``,0,1,2``, then one row per ground-truth class led by the class.

    Returns:
        ``(C, C)`` int64, rows = truth, columns = prediction.

    Raises:
        InputError: unreadable, not square, or negative/non-integer counts.
    """
    try:
        rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except Exception as error:
        raise InputError(path, f"cannot read confusion-matrix CSV ({error})") from error
    matrix = rows[:, 1:]
    if matrix.shape[0] != matrix.shape[1] or not np.array_equal(rows[:, 0], np.arange(len(rows))):
        raise InputError(path, f"expected a square matrix with rows 0..C-1, got shape {rows.shape}")
    if (matrix < 0).any() or not np.array_equal(matrix, np.round(matrix)):
        raise InputError(path, "counts must be non-negative integers")
    return matrix.astype(np.int64)


def read_confusion_folder(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """All ``*.csv`` matrices of ``folder`` by file stem, in name order."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise InputError(folder, "no .csv confusion matrices found")
    return {f.stem: read_confusion_csv(f) for f in files}
