"""Seeded bootstrap confidence intervals of a mean: the paired comparisons
(:mod:`morse.analysis.stats`), the ablation summary, the ablation trends and the head-adequacy
table draw theirs here.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as sps

__all__ = ["TIE_DECIMALS", "bootstrap_ci"]

#: Decimals values are rounded to before they are compared: differences smaller than this are
#: exact ties / zeros (floating-point noise).
TIE_DECIMALS = 12


def bootstrap_ci(
    values: np.ndarray,
    n_resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    methods: tuple[str, ...] = ("BCa", "percentile"),
) -> tuple[float, float]:
    """Seeded bootstrap CI of the mean: the first of ``methods`` that gives a finite interval
    (BCa, then percentile if BCa is degenerate); NaN if n < 2; the mean itself if all equal."""
    d = np.asarray(values, dtype=float)
    if d.size < 2:
        return float("nan"), float("nan")
    if np.ptp(np.round(d, TIE_DECIMALS)) == 0:
        mean = float(d.mean())
        return mean, mean
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sps.bootstrap(
                (d,),
                np.mean,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high
    return float("nan"), float("nan")
