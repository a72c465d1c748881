"""Does a metric change monotonically with an ablated knob? ``ablation_trends.csv``.

Per dataset x backbone x (base, knob) x output x metric, over the test cases scored at every
value of the knob (each case's value the mean over seeds first):

- ``slope``: the mean over cases of each case's least-squares slope of the metric on the knob's
  rank (0, 1, ..., k-1 over the sorted values: a slope per step of the knob), with a seeded 95 %
  percentile bootstrap CI over cases (``ci_low``, ``ci_high``) and a two-sided sign-flip
  permutation p-value of the mean slope (exact for up to :data:`EXACT_CASES` cases);
- ``curvature``: the same for each case's orthogonal quadratic coefficient (k >= 3 values);
- ``p_holm`` / ``p_curvature_holm``: Holm-adjusted within one family, every knob x metric of one
  dataset x backbone x output (the slopes and the curvatures each their own family);
- ``shape``: ``U-shaped`` / ``inverted-U`` when the curvature is significant and the case-mean
  curve's extreme value lies at an inner knob value; ``best in the middle`` when the best mean
  is at an inner value without a significant curvature; ``monotone`` otherwise; ``two values``
  when there are only two (no shape can be told);
- ``decision``: ``non-monotone`` for a U or an inverted U; else ``rising`` / ``falling`` (of the
  metric's value) when the CI excludes 0 and ``p_holm`` < 0.05; else ``no trend``. ``better``
  says which end of the knob the metric's sense prefers (``higher values`` / ``lower values``,
  ``middle`` for a non-monotone curve, empty for no trend).

``adequacy`` is the worst over the knob's points of each point's comparison adequacy
(:func:`~morse.analysis.regime.adequacy.adequacy_of`: backbone, then head for a refined output),
so a trend through one under-trained head is "head under-trained"; ``under_trained`` lists the
knob values whose head is.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from morse.analysis.bootstrap import bootstrap_ci
from morse.analysis.inputs.runs import Run
from morse.analysis.regime.adequacy import ADEQUACY, BACKBONE, HEAD, adequacy_of
from morse.analysis.regime.heads import head_verdicts
from morse.analysis.stats import ALPHA, holm
from morse.analysis.summaries.ablation import knob_series, value_label
from morse.analysis.summaries.cases import case_means
from morse.analysis.vocabulary import HEADLINE, higher_is_better

__all__ = ["EXACT_CASES", "NON_MONOTONE", "TREND_COLUMNS", "ablation_trends", "knob_trend", "sign_flip_p",
           "trend_rows"]

TREND_COLUMNS = [
    "dataset", "backbone", "base", "knob", "output", "metric", "values", "variants", "means", "n_cases",
    "n_seeds", "slope", "ci_low", "ci_high", "p_value", "p_holm", "curvature", "p_curvature",
    "p_curvature_holm", "shape", "decision", "better", "adequacy", "under_trained",
]  # fmt: skip
#: The shapes whose extreme value lies inside the knob's range (decision ``non-monotone``).
NON_MONOTONE = ("U-shaped", "inverted-U")
#: Up to this many cases the sign-flip p-value enumerates every sign vector (2^n of them).
EXACT_CASES = 16
_WORST_FIRST = (BACKBONE, HEAD, "undetermined", "adequate")


def sign_flip_p(per_case: np.ndarray, n_resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of ``mean(per_case) == 0`` by flipping the signs of the per-case values:
    exact up to :data:`EXACT_CASES` cases, else ``n_resamples`` seeded random flips ((b+1)/(B+1)).
    NaN for fewer than 2 cases; 1 when every value is zero."""
    x = np.asarray(per_case, dtype=float)
    if x.size < 2:
        return float("nan")
    observed = abs(x.mean())
    if observed == 0:
        return 1.0
    tolerance = 1e-12 * max(1.0, observed)
    if x.size <= EXACT_CASES:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=x.size)))
        return float(np.mean(np.abs(signs @ x / x.size) >= observed - tolerance))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_resamples, x.size))
    hits = int(np.sum(np.abs(signs @ x / x.size) >= observed - tolerance))
    return (hits + 1) / (n_resamples + 1)


def knob_trend(values: np.ndarray, n_resamples: int = 10000, seed: int = 0) -> dict[str, Any]:
    """The trend statistics of one cases x knob-values matrix (columns in knob order), before
    the Holm adjustment: slope, its CI and p-value, curvature and its p-value, the column means."""
    y = np.asarray(values, dtype=float)
    k = y.shape[1]
    x = np.arange(k, dtype=float) - (k - 1) / 2
    slopes = y @ x / float(x @ x)
    low, high = bootstrap_ci(slopes, n_resamples, seed, methods=("percentile",))
    means = y.mean(axis=0) if len(y) else np.full(k, np.nan)
    out = {"slope": float(slopes.mean()) if len(slopes) else float("nan"), "ci_low": low, "ci_high": high,
           "p_value": sign_flip_p(slopes, n_resamples, seed), "means": means,
           "curvature": float("nan"), "p_curvature": float("nan")}  # fmt: skip
    if k >= 3:
        q = x**2 - np.mean(x**2)
        curvatures = y @ q / float(q @ q)
        out.update(curvature=float(curvatures.mean()) if len(y) else float("nan"),
                   p_curvature=sign_flip_p(curvatures, n_resamples, seed))  # fmt: skip
    return out


def _shape(means: np.ndarray, curvature: float, p_curvature_holm: float, higher: bool) -> str:
    k = len(means)
    if k < 3:
        return "two values"
    inner = slice(1, k - 1)
    if np.isfinite(p_curvature_holm) and p_curvature_holm < ALPHA:
        extreme = int(np.argmax(means) if curvature < 0 else np.argmin(means))
        if 0 < extreme < k - 1:
            return "inverted-U" if curvature < 0 else "U-shaped"
    best = means.max() if higher else means.min()
    ends = means[[0, k - 1]]
    if (means[inner] == best).any() and not (ends == best).any():
        return "best in the middle"
    return "monotone"


def _decision(row: Mapping[str, Any], higher: bool) -> tuple[str, str]:
    """(decision, better) of one row by the rule of the module docstring."""
    if row["shape"] in NON_MONOTONE:
        return "non-monotone", "middle" if (row["shape"] == "inverted-U") == higher else "either end"
    low, high, p = row["ci_low"], row["ci_high"], row["p_holm"]
    if np.isfinite(low) and np.isfinite(high) and np.isfinite(p) and p < ALPHA and (low > 0 or high < 0):
        rising = row["slope"] > 0
        return ("rising" if rising else "falling"), ("higher values" if rising == higher else "lower values")
    return "no trend", ""


def _adequacy(points: Sequence[tuple[Any, str]], dataset: str, backbone: str, output: str,
              backbone_state: Mapping[tuple[str, str], str], head_verdict: Mapping[tuple[str, str, str], str]
              ) -> tuple[str, str]:  # fmt: skip
    """Worst adequacy over the knob's points, and the values whose head is under-trained."""
    states = [adequacy_of(backbone_state.get((dataset, backbone)), output == "refined",
                          head_verdict.get((dataset, backbone, variant))) for _, variant in points]  # fmt: skip
    worst = min(states, key=_WORST_FIRST.index) if states else "undetermined"
    under = [value_label(v) for (v, _), s in zip(points, states, strict=True) if s == HEAD]
    return (worst if worst in ADEQUACY else "undetermined"), ";".join(under)


def ablation_trends(
    metrics: pd.DataFrame,
    runs: Sequence[Run],
    backbones: pd.DataFrame | None = None,
    heads: pd.DataFrame | None = None,
    names: Sequence[str] = HEADLINE,
    n_resamples: int = 10000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per dataset x backbone x (base, knob) x output x metric with :data:`TREND_COLUMNS`
    (the statistics of the module docstring); empty when no run is an ablation point.
    ``backbones`` / ``heads``: the compare step's ``backbone_adequacy.csv`` and
    ``head_adequacy.csv`` frames (the adequacy is "undetermined" without them)."""
    backbone_state = {} if backbones is None or backbones.empty else {
        (str(d), str(b)): str(s) for d, b, s in backbones[["dataset", "backbone", "state"]].itertuples(index=False)}
    head_verdict = head_verdicts(heads) if heads is not None else {}
    series = knob_series(runs)
    if metrics.empty or not series:
        return pd.DataFrame(columns=TREND_COLUMNS)
    cases = case_means(metrics, names)
    cases = cases.astype({"dataset": str, "backbone": str, "variant": str, "output": str, "metric": str})
    rows: list[dict[str, Any]] = []
    for (dataset, backbone, base, knob), points in series.items():
        if len(points) < 2:
            continue  # one value (the base's own): no trend to test
        here = cases[(cases["dataset"] == dataset) & (cases["backbone"] == backbone)]
        variants = [variant for _, variant in points]
        for (output, metric), sub in here[here["variant"].isin(variants)].groupby(["output", "metric"], sort=True):
            table = sub.pivot_table(index="case", columns="variant", values="value", aggfunc="mean")
            if not set(variants) <= set(table.columns):
                continue  # an output some points do not have (the base's refined output, say)
            matrix = table[variants].dropna().to_numpy(dtype=float)
            stats = knob_trend(matrix, n_resamples, seed)
            adequacy, under = _adequacy(points, dataset, backbone, str(output), backbone_state, head_verdict)
            rows.append({
                "dataset": dataset, "backbone": backbone, "base": base, "knob": knob, "output": output,
                "metric": metric, "values": ";".join(value_label(v) for v, _ in points),
                "variants": ";".join(variants), "means": ";".join(f"{m:.6g}" for m in stats.pop("means")),
                "n_cases": int(len(matrix)), "n_seeds": int(sub["n_seeds"].max()), **stats,
                "adequacy": adequacy, "under_trained": under,
            })  # fmt: skip
    out = pd.DataFrame(rows).reindex(columns=TREND_COLUMNS)
    if out.empty:
        return out
    for _, family in out.groupby(["dataset", "backbone", "output"], sort=False):
        out.loc[family.index, "p_holm"] = holm(family["p_value"].to_numpy(dtype=float))
        out.loc[family.index, "p_curvature_holm"] = holm(family["p_curvature"].to_numpy(dtype=float))
    shapes, decisions = [], []
    for _, row in out.iterrows():
        higher = higher_is_better(str(row["metric"]))
        means = np.array([float(m) for m in str(row["means"]).split(";")])
        shapes.append(_shape(means, float(row["curvature"]), float(row["p_curvature_holm"]), higher))
        decisions.append(_decision({**row, "shape": shapes[-1]}, higher))
    out["shape"] = shapes
    out["decision"], out["better"] = [d for d, _ in decisions], [b for _, b in decisions]
    return out.astype({"n_cases": int, "n_seeds": int})


def trend_rows(trends: pd.DataFrame, **match: str) -> pd.DataFrame:
    """The rows of ``ablation_trends.csv`` whose columns equal ``match`` (e.g. ``knob="num_points"``,
    ``output="refined"``); a column the table lacks (a file from an older version) matches any row."""
    hit = trends
    for column, value in match.items():
        if column in hit.columns:
            hit = hit[hit[column].astype(str) == str(value)]
    return hit
