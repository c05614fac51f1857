"""Matplotlib figures saved as PNG atomically, with the non-interactive backend."""

from __future__ import annotations

import os


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write ``figure`` to ``path`` as PNG (temporary file, then rename) and close it."""
    from catseg3d.io.atomic import atomic_path

    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        pyplot().close(figure)
