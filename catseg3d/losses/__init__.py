"""Losses: the paper's weighted focal loss, and that loss plus a soft Dice loss."""

from catseg3d.losses.focal_dice import FocalDiceLoss
from catseg3d.losses.weighted_focal import WeightedFocalLoss

__all__ = ["FocalDiceLoss", "WeightedFocalLoss"]
