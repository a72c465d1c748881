"""The effect across the training budget: each comparison's paired difference at every weight
snapshot, and its trend (``budget_comparisons.csv``, ``budget_trends.csv``).

The snapshots are scored on the TEST split (``budget_metrics.csv``, one block per snapshot): the
curves only describe how the answer depends on the budget; nothing is chosen on them.

Pairing: the arms of a comparison are paired at the snapshots they share (the same
``total_iteration``, counted from the start of the backbone's training), and at each one exactly
as ``comparisons.csv`` pairs them (:func:`morse.analysis.stats.paired_comparisons`: per case the
mean over the foreground classes, then over the seeds both arms have; the difference variant -
baseline with its 95 % bootstrap CI over cases). Only the comparisons against the reference's
coarse output are traced (not refined against its own coarse output).

Trend (:func:`classify_trend`), from the first and the last shared snapshot:

- **crossing zero**: differences whose 95 % CI excludes 0 occur with both signs;
- otherwise, with ``tolerance`` the half-width of the last CI: **closing** when |difference|
  shrank by more than ``tolerance`` from the first snapshot to the last, **widening** when it
  grew by more than ``tolerance``, **stable** when it moved less;
- **not available**: fewer than two shared snapshots, a non-finite difference or CI, or no
  snapshots at all (runs made before snapshots were saved): never a flat line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from morse.analysis.stats import paired_comparisons
from morse.config import REFERENCE_VARIANT

__all__ = ["BUDGET_COLUMNS", "BUDGET_METRICS", "CLOSING", "CROSSING", "NOT_AVAILABLE", "STABLE",
           "TREND_COLUMNS", "TRENDS", "WIDENING", "budget_comparisons", "budget_trends",
           "classify_trend"]  # fmt: skip

CLOSING, STABLE, WIDENING, CROSSING, NOT_AVAILABLE = "closing", "stable", "widening", "crossing zero", "not available"
TRENDS = (CLOSING, STABLE, WIDENING, CROSSING, NOT_AVAILABLE)
#: The metrics traced across the budget.
BUDGET_METRICS = ("dice", "hd95_mm", "nsd", "boundary_iou")
KEYS = ["dataset", "backbone", "variant", "output", "metric"]
BUDGET_COLUMNS = [*KEYS[:4], "metric", "iteration", "total_iteration", "difference", "ci_low",
                  "ci_high", "n_cases"]  # fmt: skip
TREND_COLUMNS = [*KEYS, "trend", "first_iteration", "last_iteration", "first_difference",
                 "last_difference", "last_ci_low", "last_ci_high", "n_snapshots"]  # fmt: skip


def budget_comparisons(budget: pd.DataFrame, reference_variant: str = REFERENCE_VARIANT,
                       metrics: Sequence[str] = BUDGET_METRICS, n_resamples: int = 10000,
                       seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Per snapshot (``total_iteration``) shared by both arms: every (variant, output) against the
    reference's coarse output, per metric of ``metrics`` present; columns :data:`BUDGET_COLUMNS`.
    ``iteration`` is the variant run's own iteration at that snapshot."""
    if budget is None or budget.empty:
        return pd.DataFrame(columns=BUDGET_COLUMNS)
    present = [m for m in metrics if m in budget.columns]
    parts = []
    for total, block in budget.groupby("total_iteration", sort=True):
        rows = paired_comparisons(block, reference_variant=reference_variant, metrics_to_compare=present,
                                  n_resamples=n_resamples, seed=seed)  # fmt: skip
        rows = rows[(rows["reference_variant"] == reference_variant) & (rows["reference_output"] == "coarse")
                    & (rows["n_cases"] > 0)]  # fmt: skip
        if rows.empty:
            continue
        own = block.groupby(["dataset", "backbone", "variant"])["iteration"].min()
        iteration = [int(own.get((d, b, v), total)) for d, b, v in
                     rows[["dataset", "backbone", "variant"]].itertuples(index=False)]  # fmt: skip
        parts.append(pd.DataFrame({
            **{k: rows[k].to_numpy() for k in KEYS}, "iteration": iteration, "total_iteration": int(total),
            "difference": rows["mean_difference"].to_numpy(), "ci_low": rows["ci_low"].to_numpy(),
            "ci_high": rows["ci_high"].to_numpy(), "n_cases": rows["n_cases"].to_numpy()}))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=BUDGET_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[BUDGET_COLUMNS]
    out = out.assign(_m=out["metric"].map({m: i for i, m in enumerate(metrics)}))
    return out.sort_values([*KEYS[:4], "_m", "total_iteration"], kind="mergesort").drop(columns="_m").reset_index(drop=True)


def _sign(low: float, high: float) -> int:
    """+1 / -1 when the CI excludes zero on that side, 0 otherwise."""
    return 1 if low > 0 else (-1 if high < 0 else 0)


def classify_trend(differences: Sequence[float], ci_low: Sequence[float], ci_high: Sequence[float]) -> str:
    """The trend of one comparison's differences at its snapshots (in budget order); the rule
    is the module docstring's."""
    d, lo, hi = (np.asarray(x, dtype=float) for x in (differences, ci_low, ci_high))
    if d.size < 2 or not np.all(np.isfinite(d)):
        return NOT_AVAILABLE
    signs = {_sign(a, b) for a, b in zip(lo, hi, strict=True) if math.isfinite(a) and math.isfinite(b)}
    if {1, -1} <= signs:
        return CROSSING
    if not (math.isfinite(lo[-1]) and math.isfinite(hi[-1])):
        return NOT_AVAILABLE
    tolerance = (hi[-1] - lo[-1]) / 2.0
    shrink = abs(d[0]) - abs(d[-1])
    if shrink > tolerance:
        return CLOSING
    if -shrink > tolerance:
        return WIDENING
    return STABLE


def budget_trends(comparisons: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x backbone x variant x output x metric of ``comparisons``
    (:func:`budget_comparisons`): the trend, the first and last snapshot and difference, the
    last CI and the number of snapshots; columns :data:`TREND_COLUMNS`."""
    rows = []
    for key, series in comparisons.groupby(KEYS, sort=False):
        series = series.sort_values("total_iteration")
        first, last = series.iloc[0], series.iloc[-1]
        rows.append({**dict(zip(KEYS, key, strict=True)),
                     "trend": classify_trend(series["difference"], series["ci_low"], series["ci_high"]),
                     "first_iteration": int(first["total_iteration"]), "last_iteration": int(last["total_iteration"]),
                     "first_difference": first["difference"], "last_difference": last["difference"],
                     "last_ci_low": last["ci_low"], "last_ci_high": last["ci_high"], "n_snapshots": len(series)})  # fmt: skip
    return pd.DataFrame(rows, columns=TREND_COLUMNS)
