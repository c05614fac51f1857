"""Metrics: confusion-matrix statistics (DSC, precision, recall) as in the paper's Table 1."""

from catseg3d.metrics.confusion import (METRICS, class_scores, confusion_matrix, mean_ci95,
                                        summarize_confusion_matrices)

__all__ = ["METRICS", "class_scores", "confusion_matrix", "mean_ci95", "summarize_confusion_matrices"]
