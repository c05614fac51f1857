"""Ignite handlers: progress bar, compute-time limit, evaluation report."""

from catseg3d.handlers.evaluation_report import EvaluationReportHandler
from catseg3d.handlers.progress import ProgressBar, first_loss
from catseg3d.handlers.time_limit import ComputeTimeLimit

__all__ = ["ComputeTimeLimit", "EvaluationReportHandler", "ProgressBar", "first_loss"]
