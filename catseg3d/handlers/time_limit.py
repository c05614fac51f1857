"""Stop training after a budget of compute time that other load on the machine does not shrink."""

from __future__ import annotations

import logging
import time

import torch
from ignite.engine import Engine, Events


class ComputeTimeLimit:
    """Terminate an Ignite engine once the process has used ``minutes`` of all its threads' time.

    Ignite's ``TimeLimit`` counts wall-clock seconds, so a run that shares the machine with other
    work gets less training in the same limit. This counts the process's CPU time (all threads,
    data loading and validation included) divided by ``torch.get_num_threads()``: on an otherwise
    idle machine that is the wall-clock time, and two runs with the same limit get the same compute
    whatever else runs beside them. The check runs after every iteration; like ``TimeLimit`` it
    ends the run without completing the current epoch (so without its validation).

    Args:
        minutes: the budget; the run may exceed it by one iteration.
    """

    def __init__(self, minutes: float) -> None:
        if not minutes > 0:
            raise ValueError(f"the time limit must be positive, got {minutes} minutes")
        self.limit_seconds = float(minutes) * 60.0
        self.start = time.process_time()
        self.logger = logging.getLogger(__name__)

    def used_seconds(self) -> float:
        """Process CPU seconds since construction, per thread."""
        return (time.process_time() - self.start) / torch.get_num_threads()

    def __call__(self, engine: Engine) -> None:
        if self.used_seconds() > self.limit_seconds:
            self.logger.info(f"Reached the compute-time limit of {self.limit_seconds / 60:g} minutes; stopping")
            engine.terminate()

    def attach(self, engine: Engine) -> None:
        """Check after every iteration; the budget starts when the engine starts."""
        engine.add_event_handler(Events.STARTED, self.restart)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def restart(self, engine: Engine) -> None:
        self.start = time.process_time()
