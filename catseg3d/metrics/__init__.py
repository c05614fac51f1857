"""Metrics: confusion-matrix statistics (Table 1), robust Hausdorff distances in nm (Fig. 4), reports."""

from catseg3d.metrics.confusion import (METRICS, class_scores, confusion_matrix, mean_ci95,
                                        summarize_confusion_matrices)
from catseg3d.metrics.evaluation import Evaluation, ImageScore
from catseg3d.metrics.hausdorff import PERCENTILES, percentile_hausdorff, summarize_hausdorff
from catseg3d.metrics.report import write_report

__all__ = ["METRICS", "PERCENTILES", "Evaluation", "ImageScore", "class_scores",
           "confusion_matrix", "mean_ci95", "percentile_hausdorff", "summarize_confusion_matrices",
           "summarize_hausdorff", "write_report"]
