"""A progress bar that attaches like a MONAI handler (``handler.attach(engine)``)."""

from __future__ import annotations

from typing import Any, Callable

from ignite.engine import Engine
from ignite.handlers import ProgressBar as IgniteProgressBar
from monai.handlers import from_engine


def first_loss(output: Any) -> dict[str, float]:
    """The loss of a ``SupervisedTrainer`` iteration output, as ``{"loss": value}``."""
    return {"loss": float(from_engine(["loss"], first=True)(output))}


class ProgressBar:
    """Ignite's tqdm ``ProgressBar`` with its ``attach`` arguments given at construction.

    MONAI engines call ``handler.attach(engine)`` for every handler in their list; Ignite's bar
    takes its ``output_transform`` in ``attach``. This class carries it so that a bundle config
    can list the bar among ``train#handlers``.

    Args:
        output_transform: maps the engine output to a number or dict shown on the bar, e.g.
            :func:`first_loss` for a trainer; None shows only the iteration count.
        persist: keep the finished bar of each epoch on screen.
    """

    def __init__(self, output_transform: Callable[[Any], Any] | None = None, persist: bool = False) -> None:
        self.output_transform = output_transform
        self.persist = persist

    def attach(self, engine: Engine) -> None:
        IgniteProgressBar(persist=self.persist).attach(engine, output_transform=self.output_transform)
