"""WeightedFocalLoss is eq. (1) of the paper; MONAI's FocalLoss mean is eq. (1) / C."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.losses import FocalLoss

from catseg3d.losses import WeightedFocalLoss

ALPHA = (0.2, 0.3, 0.5)


def random_case(shape=(2, 3, 16, 12), seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=generator, dtype=torch.float64) * 3
    target = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=generator)
    return logits, target


def equation_1_numpy(logits, target, alpha, gamma):
    """L = -1/N sum_i sum_c alpha_c y_ic (1 - p_ic)^gamma log p_ic, evaluated in numpy."""
    x = logits.numpy()
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.eye(x.shape[1])[target.numpy()[:, 0]]  # (B, *spatial, C)
    y = np.moveaxis(y, -1, 1)
    a = np.asarray(alpha).reshape(1, -1, *([1] * (x.ndim - 2)))
    n = x.shape[0] * np.prod(x.shape[2:])
    return -(a * y * (1 - p) ** gamma * np.log(p)).sum() / n


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("shape", [(2, 3, 16, 12), (1, 3, 4, 6, 5)])
def test_equals_numpy_evaluation_of_equation_1(gamma, shape):
    logits, target = random_case(shape)
    loss = WeightedFocalLoss(ALPHA, gamma)(logits, target)
    assert loss.item() == pytest.approx(equation_1_numpy(logits, target, ALPHA, gamma), rel=1e-6)


def test_gamma_0_alpha_1_is_cross_entropy():
    logits, target = random_case()
    loss = WeightedFocalLoss((1.0, 1.0, 1.0), gamma=0.0)(logits, target)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, target[:, 0]).item(), rel=1e-6)


def test_one_hot_and_index_targets_agree():
    logits, target = random_case()
    one_hot = F.one_hot(target[:, 0], 3).movedim(-1, 1)
    loss = WeightedFocalLoss(ALPHA, 1.0)
    assert loss(logits, one_hot).item() == pytest.approx(loss(logits, target).item(), rel=1e-9)
    assert loss(logits, target[:, 0]).item() == pytest.approx(loss(logits, target).item(), rel=1e-9)


def test_monai_focal_loss_mean_divides_by_the_number_of_classes():
    logits, target = random_case()
    ours = WeightedFocalLoss(ALPHA, 1.0)(logits, target).item()
    monai_mean = FocalLoss(use_softmax=True, to_onehot_y=True, weight=ALPHA, gamma=1.0)(logits, target).item()
    assert monai_mean == pytest.approx(ours / 3, rel=1e-6)
    assert monai_mean != pytest.approx(ours, rel=0.1)
    monai_none = FocalLoss(use_softmax=True, to_onehot_y=True, weight=ALPHA, gamma=1.0, reduction="none")
    assert monai_none(logits, target).sum(1).mean().item() == pytest.approx(ours, rel=1e-6)


def test_large_logits_give_finite_loss_and_gradients():
    logits, target = random_case()
    logits = (torch.sign(logits) * 50).float().requires_grad_(True)
    loss = WeightedFocalLoss(ALPHA, 1.0)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert loss.item() > 0  # some pixels are confidently wrong


def test_reductions():
    logits, target = random_case()
    per_pixel = WeightedFocalLoss(ALPHA, 1.0, reduction="none")(logits, target)
    assert per_pixel.shape == (2, 1, 16, 12)
    total = WeightedFocalLoss(ALPHA, 1.0, reduction="sum")(logits, target)
    assert total.item() == pytest.approx(per_pixel.sum().item())


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="non-negative"):
        WeightedFocalLoss((0.2, -0.3, 0.5))
    logits, target = random_case()
    with pytest.raises(ValueError, match="3 classes but alpha has 2"):
        WeightedFocalLoss((0.5, 0.5))(logits, target)
    with pytest.raises(ValueError, match="fits neither"):
        WeightedFocalLoss(ALPHA)(logits, target[:, :, :8])


def test_focal_dice_is_the_focal_loss_plus_the_soft_dice_of_numpy():
    import numpy as np

    from catseg3d.losses import FocalDiceLoss, WeightedFocalLoss

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 1, 8, 8))
    p = torch.softmax(logits, 1).numpy()
    y = np.eye(3)[target[:, 0].numpy()].transpose(0, 3, 1, 2)
    dice = 1 - (2 * (p * y).sum((2, 3)) / (p.sum((2, 3)) + y.sum((2, 3))))  # MONAI's smooth terms ~1e-5
    expected = WeightedFocalLoss()(logits, target).item() + 0.5 * dice[:, 1:].mean()
    assert FocalDiceLoss(lambda_dice=0.5)(logits, target).item() == pytest.approx(expected, rel=1e-4)
    assert FocalDiceLoss(lambda_dice=0.0)(logits, target).item() == pytest.approx(
        WeightedFocalLoss()(logits, target).item(), rel=1e-6)
    with pytest.raises(ValueError):
        FocalDiceLoss(lambda_dice=-1)


def sparse_case(seed=1):
    """Logits and class indices with about half the pixels unlabelled (255)."""
    logits, target = random_case((2, 3, 16, 12), seed)
    generator = torch.Generator().manual_seed(seed + 100)
    unlabelled = torch.rand(target.shape, generator=generator) < 0.5
    return logits, torch.where(unlabelled, torch.full_like(target, 255), target)


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_unlabelled_pixels_are_left_out_of_the_focal_loss(gamma):
    """Eq. (1) with N the labelled pixels, in numpy over the labelled pixels alone."""
    logits, target = sparse_case()
    x = np.moveaxis(logits.numpy(), 1, -1)[target.numpy()[:, 0] != 255]  # (N, C) labelled pixels
    y = np.eye(3)[target.numpy()[:, 0][target.numpy()[:, 0] != 255]]
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = -(np.asarray(ALPHA) * y * (1 - p) ** gamma * np.log(p)).sum() / len(x)
    assert WeightedFocalLoss(ALPHA, gamma)(logits, target).item() == pytest.approx(expected, rel=1e-6)
    per_pixel = WeightedFocalLoss(ALPHA, gamma, reduction="none")(logits, target)
    assert (per_pixel[target == 255] == 0).all()
    assert WeightedFocalLoss(ALPHA, gamma, reduction="sum")(logits, target).item() == pytest.approx(expected * len(x))
    nothing = torch.full_like(target, 255)
    logits.requires_grad_(True)
    empty = WeightedFocalLoss(ALPHA, gamma)(logits, nothing)
    empty.backward()
    assert empty.item() == 0 and (logits.grad == 0).all()
    with pytest.raises(ValueError, match="ignore_index 2 is one of the 3 classes"):
        WeightedFocalLoss(ALPHA, ignore_index=2)


def test_unlabelled_pixels_are_left_out_of_the_focal_dice_loss():
    from catseg3d.losses import FocalDiceLoss

    logits, target = sparse_case(2)
    labelled = (target != 255).numpy()[:, 0]
    p = torch.softmax(logits, 1).numpy() * labelled[:, None]
    y = np.eye(3)[np.where(labelled, target.numpy()[:, 0], 0)].transpose(0, 3, 1, 2) * labelled[:, None]
    dice = 1 - (2 * (p * y).sum((2, 3)) + 1e-5) / (p.sum((2, 3)) + y.sum((2, 3)) + 1e-5)
    expected = WeightedFocalLoss()(logits, target).item() + dice[:, 1:].mean()
    assert FocalDiceLoss()(logits, target).item() == pytest.approx(expected, rel=1e-6)
    filled = torch.where(target == 255, torch.zeros_like(target), target)  # the same pixels, all labelled
    assert FocalDiceLoss()(logits, filled).item() != pytest.approx(expected, rel=1e-3)
