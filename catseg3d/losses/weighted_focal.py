"""The class-weighted multi-class focal loss of Genc, Kovarik & Fraser (2022), eq. (1)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from catseg3d.io.labels import UNLABELLED


class WeightedFocalLoss(_Loss):
    """``L = -1/N sum_i sum_c alpha_c y_ic (1 - p_ic)^gamma log p_ic`` from logits.

    ``p = softmax(logits)`` over the class axis, evaluated through ``log_softmax`` so that logits
    of any size give a finite loss and finite gradients. ``N`` is the number of labelled pixels or
    voxels over the whole batch (``reduction="mean"``); the class axis is summed, not averaged.
    Pixels whose class index is ``ignore_index`` (sparse labels, :mod:`catseg3d.io.labels`) add
    nothing and do not count in ``N``; a batch without a labelled pixel has loss 0.

    Note: MONAI's ``FocalLoss(use_softmax=True, to_onehot_y=True, weight=alpha)`` with
    ``reduction="mean"`` averages the class axis too, so it equals this loss divided by the number
    of classes.

    Args:
        alpha: one weight per class, e.g. ``(0.2, 0.3, 0.5)`` (the paper).
        gamma: focusing exponent, ``>= 0`` (the paper: 1). ``gamma=0`` with all ``alpha=1`` is
            cross-entropy.
        reduction: ``"mean"`` (eq. (1)), ``"sum"`` or ``"none"`` (a ``(Batch, 1, *spatial)`` map,
            0 at unlabelled pixels).
        ignore_index: the class index of unlabelled pixels in index targets (None: every pixel is
            labelled); it must not be a class (``0 <= ignore_index < C``).

    Raises:
        ValueError: negative ``gamma`` or ``alpha``; in ``forward``, a target whose shape fits
            neither class indices nor one-hot, or a class count that differs from ``alpha``.
    """

    def __init__(self, alpha: Sequence[float] = (0.2, 0.3, 0.5), gamma: float = 1.0,
                 reduction: LossReduction | str = LossReduction.MEAN, ignore_index: int | None = UNLABELLED) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        alpha_tensor = torch.as_tensor(alpha, dtype=torch.float32).flatten()
        if gamma < 0 or (alpha_tensor < 0).any():
            raise ValueError(f"gamma and alpha must be non-negative, got gamma={gamma}, alpha={alpha}")
        if ignore_index is not None and 0 <= ignore_index < alpha_tensor.numel():
            raise ValueError(f"ignore_index {ignore_index} is one of the {alpha_tensor.numel()} classes")
        self.ignore_index = ignore_index
        self.gamma = float(gamma)
        self.register_buffer("alpha", alpha_tensor)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits ``(Batch, C, dim_0[, dim_1, ..., dim_N-1])``.
            target: class indices ``(Batch, 1, *spatial)`` (or ``(Batch, *spatial)``), with
                ``ignore_index`` at unlabelled pixels, or one-hot ``(Batch, C, *spatial)``.
        """
        n_classes = input.shape[1]
        if n_classes != self.alpha.numel():
            raise ValueError(f"input has {n_classes} classes but alpha has {self.alpha.numel()} weights")
        log_p = F.log_softmax(input.float(), dim=1)
        labelled = None
        if target.shape == input.shape and n_classes > 1:
            one_hot = target.float()
        elif target.shape in (input.shape[:1] + input.shape[2:], input.shape[:1] + (1,) + input.shape[2:]):
            indices = target.reshape(input.shape[:1] + (1,) + input.shape[2:]).long()
            if self.ignore_index is not None:
                labelled = indices != self.ignore_index
                indices = torch.where(labelled, indices, torch.zeros_like(indices))
            one_hot = torch.zeros_like(log_p).scatter_(1, indices, 1.0)
            if labelled is not None:
                one_hot = one_hot * labelled
        else:
            raise ValueError(f"target shape {tuple(target.shape)} fits neither class indices nor "
                             f"one-hot for input shape {tuple(input.shape)}")
        alpha = self.alpha.to(log_p).reshape(1, -1, *([1] * (input.ndim - 2)))
        focal = (1.0 - log_p.exp()).pow(self.gamma) if self.gamma else 1.0
        loss = -(alpha * one_hot * focal * log_p).sum(dim=1, keepdim=True)
        if self.reduction == LossReduction.MEAN.value:
            return loss.mean() if labelled is None else loss.sum() / labelled.sum().clamp(min=1)
        if self.reduction == LossReduction.SUM.value:
            return loss.sum()
        return loss
