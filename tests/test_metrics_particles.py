"""Particle detection counts (catseg3d.metrics.particles) on phantoms whose particles are placed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from catseg3d.metrics import Evaluation
from catseg3d.metrics.particles import ParticleCounts, particle_counts


def disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.indices(shape)
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2


def test_found_missed_and_false_particles_in_2d():
    shape = (96, 96)
    truth = np.zeros(shape, np.uint8)
    truth[40:60, 10:80] = 1  # support
    centres = [(10, 10), (10, 40), (10, 70), (70, 20), (70, 60)]
    for c in centres:
        truth[disc(shape, c, 4)] = 2
    prediction = truth.copy()
    prediction[disc(shape, centres[1], 4)] = 0  # missed
    prediction[disc(shape, centres[2], 4)] = 0
    prediction[disc(shape, (centres[2][0], centres[2][1] + 3), 2)] = 2  # found by a shifted, smaller particle
    prediction[disc(shape, (85, 85), 3)] = 2  # false
    prediction[disc(shape, (30, 90), 2)] = 2  # false
    prediction[8:10, 10] = 1  # a true particle partly labelled support is still found
    assert particle_counts(prediction, truth, 2) == ParticleCounts(true=5, found=4, predicted=6, false=2)
    assert particle_counts(truth, truth, 2) == ParticleCounts(5, 5, 5, 0)
    assert particle_counts(np.zeros(shape), truth, 2) == ParticleCounts(5, 0, 0, 0)


def test_diagonal_neighbours_are_one_particle_in_2d_and_3d():
    truth = np.zeros((6, 6), np.uint8)
    truth[1, 1] = truth[2, 2] = 2  # touching at a corner: one particle (8-connectivity)
    assert particle_counts(truth, truth, 2).true == 1
    volume = np.zeros((5, 5, 5), np.uint8)
    volume[1, 1, 1] = volume[2, 2, 2] = 2  # touching at a vertex: one particle (26-connectivity)
    volume[4, 4, 0] = 2
    assert particle_counts(volume, volume, 2) == ParticleCounts(2, 2, 2, 0)
    with pytest.raises(ValueError, match="shape"):
        particle_counts(volume, truth, 2)


def test_evaluation_sums_particles_over_images_into_its_report():
    shape = (48, 48)
    evaluation = Evaluation()
    truth = np.zeros(shape, np.uint8)
    truth[disc(shape, (10, 10), 3)] = 2
    truth[disc(shape, (30, 30), 3)] = 2
    missed_one = truth.copy()
    missed_one[disc(shape, (30, 30), 3)] = 0
    evaluation.add("a", missed_one, truth, (0.12, 0.12))
    with_false = truth.copy()
    with_false[disc(shape, (40, 10), 2)] = 2
    evaluation.add("b", with_false, truth, (0.12, 0.12))
    rows = evaluation.per_image()
    assert [(r["particles_true_pt"], r["particles_found_pt"], r["particles_false_pt"]) for r in rows] == [
        (2, 1, 0), (2, 2, 1)]
    assert evaluation.report()["particles"]["pt"] == {"true": 4, "found": 3, "predicted": 4, "false": 1,
                                                      "recall": 0.75}
