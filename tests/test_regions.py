"""catseg3d.io.regions: similarity, regions by chains of similar images, folds that keep regions whole."""

from __future__ import annotations

import numpy as np
import pytest

from catseg3d.io.regions import grouped_folds, normalised_cross_correlation, similarity_regions


def chain(rng: np.random.Generator, start: np.ndarray, links: int, step: float) -> list[np.ndarray]:
    """``start`` and ``links`` images, each the previous one plus fresh noise of std ``step``."""
    images = [start]
    for _ in range(links):
        images.append(images[-1] + rng.normal(0, step, start.shape))
    return images


def test_ncc_is_pearson_correlation_and_ignores_brightness_and_contrast():
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(32, 48)) for _ in range(4)]
    images.append(3.0 * images[1] + 7.0)  # same picture, other brightness and contrast
    expected = np.corrcoef(np.stack([i.ravel() for i in images]))
    np.testing.assert_allclose(normalised_cross_correlation(images), expected, atol=1e-12)
    np.testing.assert_allclose(normalised_cross_correlation(images[:2], images[2:]), expected[:2, 2:], atol=1e-12)
    constant = normalised_cross_correlation([np.ones((8, 8)), images[0][:8, :8]])
    np.testing.assert_array_equal(constant[0], [0.0, 0.0])


def test_images_of_other_shapes_are_compared_over_their_central_crop():
    rng = np.random.default_rng(1)
    small = rng.normal(size=(20, 20))
    large = np.pad(small, 6) + rng.normal(0, 1e-3, (32, 32))  # the same picture in a larger frame
    assert normalised_cross_correlation([small], [large])[0, 0] > 0.999
    with pytest.raises(ValueError, match="dimensionality"):
        normalised_cross_correlation([small], [rng.normal(size=(4, 20, 20))])


def test_regions_follow_chains_of_neighbouring_slices():
    rng = np.random.default_rng(2)
    # each link correlates 0.9 with the previous image; the ends of the chain only about 0.66
    first = chain(rng, rng.normal(size=(64, 64)), links=4, step=0.5)
    ncc = np.corrcoef(np.stack([i.ravel() for i in first]))
    assert ncc[0, -1] < 0.8 < min(ncc[i, i + 1] for i in range(4))
    other = chain(rng, rng.normal(size=(64, 64)), links=1, step=0.3)
    alone = [rng.normal(size=(64, 64))]
    images = [other[0], *first, alone[0], other[1]]
    np.testing.assert_array_equal(similarity_regions(images), [0, 1, 1, 1, 1, 1, 2, 0])
    # a threshold above every link leaves each image its own region
    np.testing.assert_array_equal(similarity_regions(images, threshold=0.999), range(8))


def test_grouped_folds_keep_regions_whole_and_balance_counts():
    regions = [4, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4]  # sizes: 0 -> 3, 1 -> 3, 2 -> 2, 3 -> 1, 4 -> 2
    folds = grouped_folds(regions, 2)
    for region in set(regions):
        assert len({int(f) for f, r in zip(folds, regions) if r == region}) == 1
    assert sorted(np.bincount(folds).tolist()) == [5, 6]
    # largest regions first into the emptiest fold: 0 -> fold 0, 1 -> fold 1, then 2 and 4 (size 2), then 3
    np.testing.assert_array_equal(folds, [1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(grouped_folds(regions, 2), folds)
    with pytest.raises(ValueError, match="folds"):
        grouped_folds(regions, 6)
    with pytest.raises(ValueError, match="folds"):
        grouped_folds(regions, 1)
