"""Stop training after a budget of compute time that other load on the machine does not shrink."""

from __future__ import annotations

import logging
import time

import torch
from ignite.engine import Engine, Events


class ComputeTimeLimit:
    """Terminate an Ignite engine once the run has used ``minutes`` of all its threads' time.

    Ignite's ``TimeLimit`` counts wall-clock seconds, so a run that shares the machine with other
    work gets less training in the same limit. This counts the process's CPU time (all threads,
    data loading and validation included) divided by ``torch.get_num_threads()``: on an otherwise
    idle machine that is the wall-clock time, and two runs with the same limit get the same compute
    whatever else runs beside them. The check runs after every iteration; like ``TimeLimit`` it
    ends the run without completing the current epoch (so without its validation).

    The count is a training state: saved with each checkpoint (``state_dict``) and loaded with it,
    a resumed run goes on from the compute its checkpoint had used, so the budget is the whole
    run's (the work of an epoch interrupted by a kill is not counted).

    Args:
        minutes: the budget; the run may exceed it by one iteration. 0: no limit, only the count.
    """

    def __init__(self, minutes: float) -> None:
        if not minutes >= 0:
            raise ValueError(f"the time limit must be positive (or 0: none), got {minutes} minutes")
        self.limit_seconds = float(minutes) * 60.0
        self.earlier_seconds = 0.0  # used before this process's run: loaded from a checkpoint
        self.start = time.process_time()
        self.logger = logging.getLogger(__name__)

    def used_seconds(self) -> float:
        """CPU seconds per thread used by the run: this process's since the engine started, plus
        what a loaded checkpoint had used."""
        return self.earlier_seconds + (time.process_time() - self.start) / torch.get_num_threads()

    def __call__(self, engine: Engine) -> None:
        if self.limit_seconds and self.used_seconds() > self.limit_seconds:
            self.logger.info(f"Reached the compute-time limit of {self.limit_seconds / 60:g} minutes; stopping")
            engine.terminate()

    def attach(self, engine: Engine) -> None:
        """Count from the engine's start; check the limit after every iteration."""
        engine.add_event_handler(Events.STARTED, self.restart)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def restart(self, engine: Engine) -> None:
        self.start = time.process_time()

    def state_dict(self) -> dict[str, float]:
        """``{"used_seconds": ...}``: the compute used so far (CPU seconds per thread)."""
        return {"used_seconds": self.used_seconds()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Continue from a checkpoint's count: what this process uses from now on adds to it."""
        self.earlier_seconds = float(state["used_seconds"])
        self.start = time.process_time()
