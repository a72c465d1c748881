"""The seeded bootstrap CI of a mean."""

from __future__ import annotations

import math

import numpy as np
import pytest

from morse.analysis.bootstrap import bootstrap_ci


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    d = np.random.default_rng(1).normal(0.1, 0.05, size=30)
    low, high = bootstrap_ci(d, n_resamples=2000, seed=3)
    assert low < d.mean() < high
    assert (low, high) == bootstrap_ci(d, n_resamples=2000, seed=3)  # seeded
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([0.3])))
    assert bootstrap_ci(np.array([0.2, 0.2, 0.2])) == pytest.approx((0.2, 0.2))  # all equal: the mean itself
