"""Label changes between neighbouring slices (catseg3d.metrics.consistency), against numpy and phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from catseg3d.io import Volume
from catseg3d.metrics.consistency import slice_changes
from catseg3d.quantify.report import markdown, quantify_labels


def numpy_changes(labels: np.ndarray, label: int | None = None) -> list[float]:
    fractions = []
    for axis in range(3):
        first = np.take(labels, np.arange(labels.shape[axis] - 1), axis=axis)
        second = np.take(labels, np.arange(1, labels.shape[axis]), axis=axis)
        changed = first != second
        if label is not None:
            changed &= (first == label) | (second == label)
        fractions.append(changed.mean())
    return fractions


@pytest.mark.parametrize("shape", [(2, 3, 4), (64, 5, 6), (65, 4, 3), (130, 7, 5)])  # across the 64-slice blocks
def test_slice_changes_equal_numpy(shape):
    labels = np.random.default_rng(sum(shape)).integers(0, 3, shape, dtype=np.uint8)
    changes = slice_changes(labels)
    np.testing.assert_allclose([changes.z, changes.y, changes.x], numpy_changes(labels), rtol=1e-12)
    pt = slice_changes(labels, label=2)
    np.testing.assert_allclose([pt.z, pt.y, pt.x], numpy_changes(labels, 2), rtol=1e-12)


def test_a_layer_changes_once_along_z_only():
    labels = np.zeros((11, 8, 9), np.uint8)
    labels[:4] = 1
    changes = slice_changes(labels)
    assert (changes.z, changes.y, changes.x) == (pytest.approx(1 / 10), 0.0, 0.0)
    assert changes.stack_ratio("z") is None and changes.stack_ratio("y") == 0.0


def ball(shape, centre, radius):
    z, y, x = np.indices(shape)
    return ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius ** 2


def test_slices_that_flicker_raise_the_z_ratio_of_an_isotropic_ball():
    shape = (48, 48, 48)
    steady = ball(shape, (24, 24, 24), 14).astype(np.uint8)
    assert slice_changes(steady).stack_ratio("z") == pytest.approx(1.0, abs=0.02)  # no preferred direction
    flicker = steady.copy()
    flicker[1::2] = np.roll(steady[1::2], 3, axis=2)  # every other slice segmented 3 voxels off along x
    changes = slice_changes(flicker)
    assert changes.stack_ratio("z") > 2.0
    assert changes.y == pytest.approx(slice_changes(steady).y)  # within each slice nothing changed


def test_quantify_reports_slice_changes_against_a_reference():
    spacing = (0.5, 0.5, 0.5)
    truth = ball((32, 32, 32), (16, 16, 16), 9).astype(np.uint8)
    flicker = truth.copy()
    flicker[1::2] = np.roll(truth[1::2], 2, axis=1)
    stats, _ = quantify_labels(Volume(flicker, spacing))
    reference, _ = quantify_labels(Volume(truth, spacing))
    expected = numpy_changes(flicker)
    assert [stats["slice_changes"][a] for a in "zyx"] == pytest.approx(expected)
    assert stats["slice_changes"]["z_over_yx"] == pytest.approx(expected[0] / np.mean(expected[1:]))
    assert stats["slice_changes"]["z_over_yx"] > 1.5 * reference["slice_changes"]["z_over_yx"]
    assert "## Consistency between slices" in markdown(stats)
