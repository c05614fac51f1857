"""The paper's weighted focal loss plus MONAI's soft Dice loss, for experiments on class overlap."""

from __future__ import annotations

from typing import Sequence

import torch
from monai.losses import DiceLoss
from torch.nn.modules.loss import _Loss

from catseg3d.io.labels import UNLABELLED
from catseg3d.losses.weighted_focal import WeightedFocalLoss


class FocalDiceLoss(_Loss):
    """``WeightedFocalLoss(alpha, gamma) + lambda_dice * DiceLoss(softmax, one-hot target)``.

    MONAI's ``DiceFocalLoss`` is not this: its focal term is a sigmoid focal loss (``FocalLoss``
    with ``use_softmax=False``) averaged over classes, not eq. (1) of the paper.

    Args:
        alpha: focal class weights (the paper: 0.2, 0.3, 0.5).
        gamma: focal exponent (the paper: 1).
        lambda_dice: weight of the Dice term.
        dice_include_background: whether the Dice term averages the background class too.
        ignore_index: class index of unlabelled pixels, left out of both terms (None: none).

    Input: logits ``(Batch, C, *spatial)``; target: class indices ``(Batch, 1, *spatial)``.
    Returns the mean-reduced scalar.
    """

    def __init__(self, alpha: Sequence[float] = (0.2, 0.3, 0.5), gamma: float = 1.0, lambda_dice: float = 1.0,
                 dice_include_background: bool = False, ignore_index: int | None = UNLABELLED) -> None:
        super().__init__()
        if lambda_dice < 0:
            raise ValueError(f"lambda_dice must be non-negative, got {lambda_dice}")
        self.focal = WeightedFocalLoss(alpha, gamma, ignore_index=ignore_index)
        self.dice = DiceLoss(include_background=dice_include_background, to_onehot_y=True, softmax=True,
                             ignore_index=ignore_index)
        self.lambda_dice = float(lambda_dice)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.focal(input, target) + self.lambda_dice * self.dice(input.float(), target)
