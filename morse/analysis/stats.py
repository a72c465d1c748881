"""Paired, case-level statistical comparisons between variants and outputs.

Unit of analysis: the test case. For each run, a case's value is
:func:`morse.analysis.summaries.cases.case_values` (the mean over the foreground classes,
``class_index >= 1``; regions excluded; NaN when a class is not finite). Two arms are paired on the seeds
present in both, then on the cases present in both for every one of those seeds; each case's
value is averaged over those seeds, and the paired differences (variant - reference) are
analysed with a seeded bootstrap CI of the mean (BCa, percentile when BCa is degenerate;
:mod:`morse.analysis.bootstrap`), the two-sided Wilcoxon signed-rank test
(``zero_method="wilcox"``), the matched-pairs rank-biserial correlation, and Holm-Bonferroni
adjustment within each dataset x backbone x metric table. Each comparison also gets the minimum
paired difference it could detect at 80 % power at its Holm step-down level
(:mod:`morse.analysis.power`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from morse.analysis.bootstrap import TIE_DECIMALS, bootstrap_ci
from morse.analysis.power import holm_alphas, min_detectable_difference
from morse.analysis.summaries.cases import case_values
from morse.analysis.vocabulary import COMPARED, higher_is_better

STATS_COLUMNS = [
    "dataset",
    "backbone",
    "metric",
    "variant",
    "output",
    "reference_variant",
    "reference_output",
    "comparison",
    "n_cases",
    "n_seeds",
    "mean_reference",
    "mean_variant",
    "mean_difference",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "effect_size",
    "effect_size_name",
    "seed_sd",
    "better",
    "mdd_alpha",
    "min_detectable_difference",
    "note",
]
EFFECT_SIZE_NAME = "matched-pairs rank-biserial correlation"
#: A comparison: ((variant, output), (reference variant, reference output)).
Pair = tuple[tuple[str, str], tuple[str, str]]
ALPHA = 0.05

__all__ = [
    "STATS_COLUMNS",
    "holm",
    "rank_biserial",
    "paired_comparisons",
]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values; NaN entries stay NaN and are not counted."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="mergesort")]
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (R+ - R-) / (R+ + R-) over non-zero differences."""
    d = np.round(np.asarray(differences, dtype=float), TIE_DECIMALS)
    d = d[d != 0]
    if d.size == 0:
        return float("nan")
    ranks = sps.rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def _wilcoxon(differences: np.ndarray) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p-value and a note when it is undefined."""
    d = np.round(np.asarray(differences, dtype=float), TIE_DECIMALS)
    if d.size < 2:
        return float("nan"), f"p undefined: {d.size} paired case(s)"
    if np.all(d == 0):
        return float("nan"), "p undefined: all paired differences are zero"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(res.pvalue), ""


def _pair(ref: pd.Series, var: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, list[str]]:
    """Pair two (seed, case)-indexed series; returns case means, per-seed rows, notes."""
    notes: list[str] = []
    joined = pd.concat({"ref": ref, "var": var}, axis=1, join="inner")
    n_nan = int(joined.isna().any(axis=1).sum())
    if n_nan:
        notes.append(f"{n_nan} (seed, case) pair(s) with NaN dropped")
        joined = joined.dropna()
    seeds = joined.index.get_level_values("seed").unique()
    counts = joined.groupby(level="case").size()
    complete = counts.index[counts == len(seeds)]
    if len(complete) < len(counts):
        notes.append(f"{len(counts) - len(complete)} case(s) missing for some seed dropped")
    joined = joined[joined.index.get_level_values("case").isin(complete)]
    per_case = joined.groupby(level="case", sort=True).mean()
    return per_case["ref"].to_numpy(), per_case["var"].to_numpy(), joined, notes


def _label(variant: str, output: str) -> str:
    return f"{variant} ({output})"


def _comparisons(
    arms: list[tuple[str, str]], reference_variant: str, extra: Sequence[Pair] = ()
) -> list[Pair]:
    """(variant arm, reference arm) pairs: each arm vs reference coarse, then refined vs coarse,
    then the ``extra`` pairs whose two arms are both present (each pair once)."""
    ref_arm = (reference_variant, "coarse")
    pairs: list[Pair] = []
    if ref_arm in arms:
        pairs += [(arm, ref_arm) for arm in arms if arm != ref_arm]
    for variant in dict.fromkeys(v for v, _ in arms):
        if (variant, "coarse") in arms and (variant, "refined") in arms:
            pair = ((variant, "refined"), (variant, "coarse"))
            if pair not in pairs:
                pairs.append(pair)
    for pair in ((tuple(v), tuple(r)) for v, r in extra):
        if pair[0] in arms and pair[1] in arms and pair[0] != pair[1] and pair not in pairs:
            pairs.append(pair)
    return pairs


def paired_comparisons(
    metrics: pd.DataFrame,
    reference_variant: str = "baseline",
    metrics_to_compare: Sequence[str] | None = None,
    n_resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    extra_pairs: Sequence[Pair] = (),
) -> pd.DataFrame:
    """Paired case-level comparisons of every (variant, output) with the reference.

    For each dataset x backbone: every (variant, output) other than (reference_variant,
    "coarse") is compared with the reference's coarse output, and for variants with both
    outputs, refined is compared with coarse; then each of ``extra_pairs`` ((variant, output),
    (reference variant, reference output)) whose two arms both ran there (e.g. the claims'
    MORSE vs PointRend), in the same Holm family. Returns one row per comparison x metric with
    the columns of :data:`STATS_COLUMNS` (``note`` explains NaN statistics and dropped data).
    ``better`` is "variant", "reference" or "no difference" at alpha 0.05 after Holm
    adjustment within each dataset x backbone x metric; its direction follows the sign of
    the rank-biserial correlation (the Wilcoxon statistic) and the metric's direction.
    ``metrics_to_compare`` defaults to the vocabulary's :data:`COMPARED` metrics present in ``metrics``.
    ``min_detectable_difference`` is the paired difference (metric units) detectable with 80 %
    power at the row's Holm step-down level ``mdd_alpha`` (alpha / (m - rank + 1)).
    """
    if metrics_to_compare is None:
        metrics_to_compare = [m for m in COMPARED if m in metrics.columns]
    rows: list[dict] = []
    for metric in metrics_to_compare:
        values = case_values(metrics, metric)
        higher = higher_is_better(metric)
        for (dataset, backbone), sub in values.groupby(level=["dataset", "backbone"], sort=True):
            sub = sub.droplevel(["dataset", "backbone"])
            arm_index = sub.index.droplevel(["seed", "case"]).unique()
            arms = sorted(
                arm_index,
                key=lambda a: (a[0] != reference_variant, a[0], a[1] != "coarse", a[1]),
            )
            table: list[dict] = []
            sds: list[float] = []
            for var_arm, ref_arm in _comparisons(list(arms), reference_variant, extra_pairs):
                ref = sub.xs(ref_arm, level=["variant", "output"])
                var = sub.xs(var_arm, level=["variant", "output"])
                r, v, joined, notes = _pair(ref, var)
                d = v - r
                n_seeds = int(joined.index.get_level_values("seed").nunique()) if len(d) else 0
                if len(d) == 0:
                    notes.append("no shared cases")
                p, p_note = _wilcoxon(d) if len(d) else (float("nan"), "")
                if p_note:
                    notes.append(p_note)
                ci_low, ci_high = bootstrap_ci(d, n_resamples, seed, confidence)
                sds.append(float(np.std(d, ddof=1)) if len(d) > 1 else float("nan"))
                if n_seeds > 1:
                    seed_means = (joined["var"] - joined["ref"]).groupby(level="seed").mean()
                    seed_sd = float(seed_means.std(ddof=1))
                else:
                    seed_sd = float("nan")
                table.append(
                    {
                        "dataset": dataset,
                        "backbone": backbone,
                        "metric": metric,
                        "variant": var_arm[0],
                        "output": var_arm[1],
                        "reference_variant": ref_arm[0],
                        "reference_output": ref_arm[1],
                        "comparison": f"{_label(*var_arm)} vs {_label(*ref_arm)}",
                        "n_cases": int(len(d)),
                        "n_seeds": n_seeds,
                        "mean_reference": float(r.mean()) if len(d) else float("nan"),
                        "mean_variant": float(v.mean()) if len(d) else float("nan"),
                        "mean_difference": float(d.mean()) if len(d) else float("nan"),
                        "ci_low": ci_low,
                        "ci_high": ci_high,
                        "p_value": p,
                        "effect_size": rank_biserial(d),
                        "effect_size_name": EFFECT_SIZE_NAME,
                        "seed_sd": seed_sd,
                        "note": "; ".join(notes),
                    }
                )
            adjusted = holm([row["p_value"] for row in table])
            levels = holm_alphas([row["p_value"] for row in table], ALPHA)
            for row, p_adj, level, sd in zip(table, adjusted, levels, sds, strict=True):
                row["p_holm"] = float(p_adj)
                row["mdd_alpha"] = float(level)
                row["min_detectable_difference"] = min_detectable_difference(sd, row["n_cases"], level)
                row["better"] = _better(p_adj, row["effect_size"], row["mean_difference"], higher)
            rows += table
    out = pd.DataFrame(rows, columns=STATS_COLUMNS)
    # metric order follows metrics_to_compare within each dataset x backbone
    return out.sort_values(["dataset", "backbone"], kind="mergesort").reset_index(drop=True)


def _better(p_holm: float, effect: float, mean_difference: float, higher: bool) -> str:
    """Which arm is better at alpha after Holm, aware of the metric's direction."""
    if not np.isfinite(p_holm) or p_holm >= ALPHA:
        return "no difference"
    sign = np.sign(effect) if np.isfinite(effect) and effect != 0 else np.sign(mean_difference)
    if sign == 0:
        return "no difference"
    return "variant" if (sign > 0) == higher else "reference"
