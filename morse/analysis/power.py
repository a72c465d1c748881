"""Power of the paired comparisons: the smallest paired difference an experiment could detect.

For ``n`` paired cases with standard deviation ``sd`` of the paired differences, the minimum
detectable difference (MDD) at power ``1 - beta`` and two-sided level ``alpha`` is ``d * sd``,
where ``d`` is the standardised effect at which the two-sided paired (one-sample) t-test on
``n`` cases has that power. The power is exact, from SciPy's noncentral t distribution:
``T ~ nct(df = n - 1, nc = d * sqrt(n))`` and ``power = P(T > t_crit) + P(T < -t_crit)`` with
``t_crit`` the ``1 - alpha / 2`` quantile of the central t with ``n - 1`` degrees of freedom (the
same calculation as G*Power's "difference from constant" and statsmodels' ``TTestPower``).

The comparisons themselves use the Wilcoxon signed-rank test; its asymptotic relative efficiency
against the t-test is 3 / pi = 0.955 for normal differences, so the t-based MDD is a slightly
optimistic (about 2 % smaller) guide for it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize
from scipy import stats as sps

POWER = 0.8

__all__ = ["POWER", "holm_alphas", "min_detectable_difference", "min_detectable_effect", "paired_t_power"]


def paired_t_power(effect_size: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test on ``n`` cases at standardised effect
    ``effect_size`` (mean difference / SD of the differences) and level ``alpha``."""
    if n < 2:
        raise ValueError(f"a paired t-test needs at least 2 cases, got {n}")
    df = n - 1
    t_crit = sps.t.ppf(1 - alpha / 2, df)
    nc = abs(effect_size) * math.sqrt(n)
    # lower tail P(T < -t_crit | nc) = P(T > t_crit | -nc): SciPy's cdf is NaN far in the tail
    return float(sps.nct.sf(t_crit, df, nc) + sps.nct.sf(t_crit, df, -nc))


def min_detectable_effect(n: int, alpha: float = 0.05, power: float = POWER) -> float:
    """The standardised effect (Cohen's d of the paired differences) detected with ``power``
    by the two-sided paired t-test on ``n`` cases at level ``alpha``; NaN when ``n < 2``."""
    if n < 2:
        return float("nan")
    if not 0 < alpha < 1 or not alpha < power < 1:
        raise ValueError(f"need 0 < alpha < power < 1, got alpha {alpha}, power {power}")
    high = 1.0
    while paired_t_power(high, n, alpha) < power:  # the power rises monotonically with d
        high *= 2
    return float(optimize.brentq(lambda d: paired_t_power(d, n, alpha) - power, 0.0, high, xtol=1e-10))


def min_detectable_difference(
    sd: float, n: int, alpha: float = 0.05, power: float = POWER
) -> float:
    """Minimum detectable paired difference, in the metric's units: ``sd`` (SD of the paired
    differences, ddof 1) times :func:`min_detectable_effect`. NaN when ``n < 2`` or ``sd`` is
    not finite or zero (identical paired differences, e.g. two arms with the same output, give
    no estimate of the noise)."""
    if n < 2 or not np.isfinite(sd) or sd == 0:
        return float("nan")
    return float(abs(sd) * min_detectable_effect(n, alpha, power))


def holm_alphas(p_values: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """The level each comparison is tested at in Holm's step-down procedure.

    With ``m`` finite p-values ranked ascending (ties in input order, as :func:`morse.analysis.
    stats.holm`), the comparison of rank ``k`` (1-based) is tested at ``alpha / (m - k + 1)``:
    ``alpha / m`` for the smallest p, ``alpha`` for the largest. A comparison without a p-value
    (NaN) gets the strictest level, ``alpha / max(m, 1)``.
    """
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    out = np.full(p.shape, alpha / max(m, 1))
    order = finite[np.argsort(p[finite], kind="mergesort")]
    out[order] = alpha / (m - np.arange(m))
    return out
