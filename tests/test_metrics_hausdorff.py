"""Percentile Hausdorff distances: known answers, an independent brute force, MONAI's traps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import compute_hausdorff_distance
from scipy.ndimage import binary_erosion
from scipy.spatial.distance import cdist

from catseg3d.metrics.hausdorff import (ABSENT, DEFINED, UNDEFINED, diagonal, hausdorff_status,
                                        percentile_hausdorff, summarize_hausdorff)


def ball(shape, center, radius, spacing=None):
    """A disk or ball of ``radius`` (physical units) around ``center`` (voxel indices)."""
    spacing = np.ones(len(shape)) if spacing is None else np.asarray(spacing)
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, spacing)) <= radius ** 2


def brute_force(y_pred, y, percentiles, spacing):
    """Edges as mask minus its erosion, all pairwise distances, then percentiles: no MONAI."""
    edges = [np.argwhere(m ^ binary_erosion(m)) * np.asarray(spacing) for m in (y_pred, y)]
    d = cdist(edges[0], edges[1])
    return np.maximum(np.percentile(d.min(1), percentiles), np.percentile(d.min(0), percentiles))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_disk_shifted_by_k_pixels(k):
    spacing = (0.12, 0.12)
    truth = ball((64, 64), (32, 30), 12 * 0.12, spacing)
    pred = np.roll(truth, k, axis=1)
    values = percentile_hausdorff(pred, truth, (50, 90, 100), spacing)
    assert values[-1] == pytest.approx(k * 0.12)
    np.testing.assert_allclose(values, brute_force(pred, truth, (50, 90, 100), spacing), rtol=1e-6)


@pytest.mark.parametrize("axis, step", [(0, 0.5), (1, 0.25), (2, 0.12)])
def test_ball_shifted_with_anisotropic_spacing(axis, step):
    spacing = (0.5, 0.25, 0.12)
    truth = ball((24, 40, 64), (12, 20, 32), 2.5, spacing)
    pred = np.roll(truth, 2, axis=axis)
    values = percentile_hausdorff(pred, truth, (50, 95, 100), spacing)
    assert values[-1] == pytest.approx(2 * step)
    np.testing.assert_allclose(values, brute_force(pred, truth, (50, 95, 100), spacing), rtol=1e-6)


def test_single_outlier_moves_the_100th_percentile_but_not_the_90th():
    truth = ball((80, 80), (30, 30), 15)
    pred = truth.copy()
    pred[70, 75] = True  # one stray voxel, far from the disk
    p90, p100 = percentile_hausdorff(pred, truth, (90, 100))
    assert p90 == 0.0
    expected = np.sqrt(((np.argwhere(truth ^ binary_erosion(truth)) - [70, 75]) ** 2).sum(1)).min()
    assert p100 == pytest.approx(expected)


def test_agrees_with_monai_on_random_blobs():
    rng = np.random.default_rng(0)
    truth = ball((48, 48, 48), (24, 24, 24), 14) & (rng.random((48, 48, 48)) > 0.1)
    pred = ball((48, 48, 48), (26, 23, 24), 13) | (rng.random((48, 48, 48)) > 0.995)
    spacing = (0.3, 0.2, 0.1)
    ours = percentile_hausdorff(pred, truth, (50, 95, 100), spacing)
    for q, value in zip((50, 95, 100), ours):
        monai = compute_hausdorff_distance(torch.from_numpy(pred)[None, None], torch.from_numpy(truth)[None, None],
                                           include_background=True, percentile=q, spacing=spacing)
        assert value == pytest.approx(monai.item(), rel=1e-5)


def test_percentile_0_is_the_smallest_distance_where_monai_returns_the_largest():
    truth = ball((64, 64), (32, 32), 10)
    pred = np.roll(truth, 4, axis=0)
    p0, p100 = percentile_hausdorff(pred, truth, (0, 100))
    assert p0 == 0.0 and p100 == pytest.approx(4.0)
    monai = compute_hausdorff_distance(torch.from_numpy(pred)[None, None], torch.from_numpy(truth)[None, None],
                                       include_background=True, percentile=0)
    assert monai.item() == pytest.approx(4.0)  # MONAI 1.6.1: `if not percentile` -> maximum


def test_empty_masks_are_undefined_or_absent_never_zero():
    truth = ball((32, 32), (16, 16), 6)
    empty = np.zeros_like(truth)
    assert hausdorff_status(empty, truth) == hausdorff_status(truth, empty) == UNDEFINED
    assert hausdorff_status(empty, empty) == ABSENT and hausdorff_status(truth, truth) == DEFINED
    assert np.isnan(percentile_hausdorff(empty, truth)).all()
    assert np.isnan(percentile_hausdorff(truth, empty)).all()
    # MONAI: inf for the classical distance, NaN for a percentile, and its mean drops NaN
    monai = compute_hausdorff_distance(torch.from_numpy(empty)[None, None], torch.from_numpy(truth)[None, None],
                                       include_background=True, percentile=90)
    assert torch.isnan(monai).all()


def test_summary_counts_undefined_images_and_never_lets_them_improve_the_figure():
    truth = ball((32, 32), (16, 16), 6)
    shifted = [np.roll(truth, k, axis=1) for k in (1, 2, 3)]
    empty = np.zeros_like(truth)
    pairs = [(shifted[0], truth), (shifted[1], truth), (shifted[2], truth), (empty, truth), (empty, empty)]
    values = np.stack([percentile_hausdorff(p, t, (100,)) for p, t in pairs])
    status = [hausdorff_status(p, t) for p, t in pairs]
    penalty = [diagonal(truth.shape)] * len(pairs)
    summary = summarize_hausdorff(values, status, penalty, (100,))["100"]
    assert summary["n"] == 3 and summary["n_undefined"] == 1
    assert summary["mean"] == pytest.approx(2.0)
    assert summary["se"] == pytest.approx(1.0 / np.sqrt(3))
    assert summary["mean_penalized"] == pytest.approx((1 + 2 + 3 + np.sqrt(2) * 31) / 4)
    # a model that predicts nothing gets no number at all, not 0
    nothing = summarize_hausdorff(np.full((2, 1), np.nan), [UNDEFINED, UNDEFINED], [10.0, 10.0], (100,))["100"]
    assert nothing["n"] == 0 and np.isnan(nothing["mean"]) and nothing["mean_penalized"] == 10.0


def test_bad_arguments():
    truth = ball((16, 16), (8, 8), 4)
    with pytest.raises(ValueError, match=r"percentiles must lie in \[0, 100\]"):
        percentile_hausdorff(truth, truth, (101,))
    with pytest.raises(ValueError, match="different shape"):
        percentile_hausdorff(truth, truth[:8], (50,))
