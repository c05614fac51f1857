"""Losses: the paper's weighted focal loss."""

from catseg3d.losses.weighted_focal import WeightedFocalLoss

__all__ = ["WeightedFocalLoss"]
