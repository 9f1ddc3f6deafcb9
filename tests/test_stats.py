"""The report's statistics on synthetic result sets: a known difference is found, equal distributions are not
called different more often than the stated error rate, and the interval covers the true difference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evo.reporting.stats import compare


def test_a_known_difference_is_found() -> None:
    rng = np.random.default_rng(1)
    found = 0
    for k in range(200):
        better = rng.normal(3.0, 0.1, 8)  # lower is better: 2 sd ahead
        worse = rng.normal(3.2, 0.1, 8)
        result = compare(better, worse, ("population", "ratchet"), resamples=2000, seed=k)
        found += result.significant(0.05) and result.low > 0 and result.cliffs_delta > 0
    assert found / 200 >= 0.85  # the U test's power at n = 8 and 2 sd is about 0.93


def test_two_samples_of_one_distribution_are_called_different_at_most_alpha_of_the_time() -> None:
    rng = np.random.default_rng(2)
    trials, alpha = 600, 0.05
    false = sum(
        compare(rng.normal(3, 0.1, 8), rng.normal(3, 0.1, 8), resamples=200).significant(alpha) for _ in range(trials)
    )
    assert false / trials <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / trials)


def test_the_interval_covers_the_true_difference_of_medians() -> None:
    rng = np.random.default_rng(3)
    covered = 0
    for k in range(200):
        a, b = rng.normal(2.9, 0.1, 20), rng.normal(3.0, 0.1, 20)
        result = compare(a, b, resamples=2000, seed=k)
        covered += result.low <= 0.1 <= result.high
    assert covered / 200 >= 0.88  # nominal 95%: the percentile bootstrap runs a little short at n = 20


def test_direction_flips_the_sign_and_labels_the_effect() -> None:
    low, high = [1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3]
    assert compare(low, high).advantage == pytest.approx(1.0)
    maximize = compare(low, high, direction="maximize")
    assert maximize.advantage == pytest.approx(-1.0) and maximize.cliffs_delta == -1.0 and maximize.effect == "large"
    with pytest.raises(ValueError, match="at least 2 finite values"):
        compare([1.0], [2.0, 3.0])
