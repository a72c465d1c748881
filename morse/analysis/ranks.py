"""Rank stability: how sure is the ranking of the variants? ``results/<experiment>/rank_stability.csv``.

Per dataset x backbone x metric, every scored (variant, output) is an entry. Its per-case value is
:func:`~morse.analysis.summaries.cases.case_means` (foreground classes, then seeds); only the cases
every entry has are used. The entries are ranked by their mean over those cases (1 = best in the
metric's direction; tied means share the better rank, ``method="min"``), on the full data and on
``n_resamples`` seeded bootstrap resamples of the cases (as challengeR does). Reported per entry:
the share of resamples at each rank (``share``; ``share_first`` is the share at rank 1), the mean
rank, and per table Kendall's tau (tau-b, :func:`scipy.stats.kendalltau`) between the full-data
ranking and each resampled one (median and 2.5th percentile).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from morse.analysis.bootstrap import TIE_DECIMALS
from morse.analysis.summaries.cases import case_means
from morse.analysis.vocabulary import HEADLINE, higher_is_better, output_rank, variant_rank

__all__ = ["RANK_COLUMNS", "rank_stability", "rank_table"]

RANK_COLUMNS = [
    "dataset", "backbone", "metric", "variant", "output", "rank", "share", "full_rank", "full_mean",
    "share_first", "mean_rank", "kendall_tau_median", "kendall_tau_low", "n_cases", "n_resamples", "seed",
]  # fmt: skip


def _ranks(means: np.ndarray, higher: bool) -> np.ndarray:
    """Ranks along the last axis, 1 = best; equal means (to TIE_DECIMALS) share the better rank."""
    score = np.round(means, TIE_DECIMALS)
    return sps.rankdata(-score if higher else score, method="min", axis=-1).astype(int)


def _taus(full: np.ndarray, resampled: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each resampled ranking against the full one (NaN where one is constant)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        taus = np.array([sps.kendalltau(full, r).statistic for r in resampled], dtype=float)
    return np.round(taus, TIE_DECIMALS)


def rank_table(values: pd.DataFrame, higher: bool, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Rank stability of the columns (entries) of ``values`` (rows: cases, no missing values):
    one row per entry x rank 1..k with ``share``, and per entry ``full_rank``, ``full_mean``,
    ``share_first``, ``mean_rank``; per table ``kendall_tau_median`` and ``kendall_tau_low``."""
    data = values.to_numpy(dtype=float)
    n, k = data.shape
    full_means = data.mean(axis=0)
    full = _ranks(full_means, higher)
    picks = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    resampled = _ranks(data[picks].mean(axis=1), higher)
    taus = _taus(full, resampled)
    finite = taus[np.isfinite(taus)]
    tau_median = float(np.median(finite)) if finite.size else float("nan")
    tau_low = float(np.quantile(finite, 0.025)) if finite.size else float("nan")
    rows = []
    for j, entry in enumerate(values.columns):
        shares = np.bincount(resampled[:, j], minlength=k + 1)[1:] / n_resamples
        for rank in range(1, k + 1):
            rows.append({"entry": entry, "rank": rank, "share": float(shares[rank - 1]),
                         "full_rank": int(full[j]), "full_mean": float(full_means[j]),
                         "share_first": float(shares[0]), "mean_rank": float(resampled[:, j].mean()),
                         "kendall_tau_median": tau_median, "kendall_tau_low": tau_low, "n_cases": n})  # fmt: skip
    return pd.DataFrame(rows)


def rank_stability(metrics: pd.DataFrame, metrics_to_rank: Sequence[str] = HEADLINE,
                   n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """:func:`rank_table` per dataset x backbone x metric of ``metrics`` (the aggregated
    metrics.csv) with at least two entries and one case they all have; :data:`RANK_COLUMNS`."""
    means = case_means(metrics, [m for m in metrics_to_rank if m in metrics.columns])
    parts = []
    for (dataset, backbone, metric), group in means.groupby(["dataset", "backbone", "metric"], sort=True):
        wide = group.pivot_table(index="case", columns=["variant", "output"], values="value", aggfunc="first")
        wide = wide.dropna(axis=0, how="any")
        entries = sorted(wide.columns, key=lambda vo: (variant_rank(str(vo[0])), output_rank(str(vo[1]))))
        if len(entries) < 2 or wide.empty:
            continue
        table = rank_table(wide[entries], higher_is_better(str(metric)), n_resamples, seed)
        table[["variant", "output"]] = pd.DataFrame(table.pop("entry").tolist(), index=table.index)
        parts.append(table.assign(dataset=dataset, backbone=backbone, metric=metric,
                                  n_resamples=n_resamples, seed=seed))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=RANK_COLUMNS)
    return pd.concat(parts, ignore_index=True)[RANK_COLUMNS]
