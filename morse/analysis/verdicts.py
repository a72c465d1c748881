"""A verdict per claim x dataset x backbone x metric: ``results/<experiment>/verdicts.csv``.

:func:`decide` is THE function that gives a state; the CSV, the report's matrix and every sentence
read its result. States:

- ``supported``: Holm-adjusted p below 0.05 and the difference in the claimed direction;
- ``contradicted``: Holm-adjusted p below 0.05 against it;
- ``no detectable effect``: not significant; the reason gives the minimum detectable difference
  (:mod:`morse.analysis.power`): "an effect of at least X would have been seen";
- ``not evidence``: the head or the backbone under-trained, or too few cases for a test, or (a
  trend claim) the metric is not monotone in the knob: a U or an inverted U;
- ``not run``: the comparison the claim rests on was not run here (the reason says why).

Adequacy and the budget trend are inputs per row: ``comparisons.csv``'s ``adequacy`` and
``budget_trend`` columns when present; otherwise the head adequacy is derived from the
refinement counts (:mod:`morse.analysis.report.adequacy`) and the trend is "not available".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from morse.analysis.ablation_trends import NON_MONOTONE, trend_rows
from morse.analysis.claims import Claim
from morse.analysis.stats import ALPHA
from morse.analysis.vocabulary import METRICS, digits

__all__ = ["ADEQUACY", "MIN_CASES", "STATES", "TRENDS", "VERDICT_COLUMNS", "Verdict", "claim_verdicts",
           "decide", "derived_adequacy", "scored_arms"]  # fmt: skip

STATES = ("supported", "contradicted", "no detectable effect", "not evidence", "not run")
ADEQUACY = ("adequate", "head under-trained", "backbone under-trained", "undetermined")
TRENDS = ("closing", "stable", "widening", "crossing zero", "not available")
#: The fewest paired cases at which the two-sided Wilcoxon signed-rank test can reach p < 0.05
#: (with 5 cases its smallest exact p-value is 2 / 2^5 = 0.0625).
MIN_CASES = 6
VERDICT_COLUMNS = [
    "claim", "label", "statement", "dataset", "backbone", "metric", "direction", "variant", "output",
    "reference_variant", "reference_output", "knob", "state", "effect", "ci_low", "ci_high", "p_holm",
    "min_detectable_difference", "n_cases", "n_seeds", "adequacy", "budget_trend", "reason",
]  # fmt: skip
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Verdict:
    """A state of :data:`STATES`, the sentence that says why, and ``basis``: the reason in a few
    words (for instance "too few cases for a test"), for tables that have no room for the sentence."""

    state: str
    reason: str
    basis: str


def is_missing(value: Any) -> bool:
    """None, NA and NaN (and nothing else) are missing."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _finite(value: Any) -> bool:
    return not is_missing(value) and math.isfinite(float(value))


def _number(value: Any, k: int, signed: bool = False) -> str:
    return f"{float(value):{'+' if signed else ''}.{k}f}"


def _unit(metric: str) -> str:
    return METRICS[metric].unit if metric in METRICS else metric


def decide(
    effect: Any,
    p_holm: Any,
    direction: str,
    *,
    metric: str,
    n_cases: Any = None,
    adequacy: str = "undetermined",
    budget_trend: str = "not available",
    min_detectable: Any = None,
    rank_effect: Any = None,
    not_run: str | None = None,
    ci: tuple[Any, Any] | None = None,
    non_monotone: str | None = None,
    alpha: float = ALPHA,
) -> Verdict:
    """The verdict of one claim on one metric in one setting.

    ``effect``: the difference variant - reference (a slope for a trend claim); ``direction``:
    the claimed sign, ``higher`` or ``lower``; ``rank_effect`` (the rank-biserial correlation)
    gives the sign when finite and non-zero, as the Wilcoxon test sees it; ``n_cases``: paired
    cases (None for a trend); ``adequacy`` one of :data:`ADEQUACY`, ``budget_trend`` one of
    :data:`TRENDS` (added to the reason, never changing the state); ``not_run``: why the
    comparison is missing. For a trend claim, ``ci`` is the slope's CI (a significant p-value
    whose CI holds 0 is no detectable trend) and ``non_monotone`` describes a curve whose best
    value lies inside the knob's range ("not evidence" about a monotone trend)."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    if adequacy not in ADEQUACY:
        raise ValueError(f"adequacy must be one of {', '.join(ADEQUACY)}; got {adequacy!r}")
    if budget_trend not in TRENDS:
        raise ValueError(f"budget_trend must be one of {', '.join(TRENDS)}; got {budget_trend!r}")
    if not_run is not None:
        return Verdict("not run", not_run, "not run")
    trend = "" if budget_trend == "not available" else f"; over the training budget the difference is {budget_trend}"
    if adequacy in ("head under-trained", "backbone under-trained"):
        return Verdict("not evidence", f"{adequacy}: the difference says more about the training budget "
                                       "than about the method" + trend, adequacy)  # fmt: skip
    if _finite(n_cases) and int(n_cases) < MIN_CASES:
        return Verdict("not evidence", f"too few cases for a test: {int(n_cases)} paired case(s); a two-sided "
                                       f"Wilcoxon test reaches p < {alpha:g} only from {MIN_CASES}",
                       "too few cases for a test")  # fmt: skip
    if non_monotone:
        return Verdict("not evidence", f"not monotone in the knob: {non_monotone}; a claim of a monotone "
                                       "trend does not describe it" + trend, "not monotone in the knob")  # fmt: skip
    k, unit = digits(metric), _unit(metric)
    if _finite(effect) and float(effect) == 0 and not _finite(p_holm):
        return Verdict("no detectable effect", "every paired difference is zero" + trend, "no difference")
    if not _finite(effect) or not _finite(p_holm):
        return Verdict("not evidence", "no test: the difference or its p-value is undefined" + trend,
                       "the difference or its p-value is undefined")
    if float(p_holm) < alpha and ci is not None and _finite(ci[0]) and _finite(ci[1]) \
            and float(ci[0]) <= 0 <= float(ci[1]):
        return Verdict("no detectable effect", f"p_holm {float(p_holm):.3g}, but the 95 % CI "
                                               f"[{_number(ci[0], k)}, {_number(ci[1], k)}] includes 0" + trend,
                       "its 95 % CI includes 0")  # fmt: skip
    if float(p_holm) < alpha:
        sign = np.sign(float(rank_effect)) if _finite(rank_effect) and float(rank_effect) != 0 else np.sign(float(effect))
        with_claim = (sign > 0) == (direction == "higher")
        state = "supported" if with_claim else "contradicted"
        side = "in" if with_claim else "against"
        return Verdict(state, f"significant {side} the claimed direction ({direction}): "
                              f"{_number(effect, k, signed=True)} {unit}, p_holm {float(p_holm):.3g}" + trend,
                   f"significant {side} the claim")  # fmt: skip
    if _finite(min_detectable):
        seen = f"an effect of at least {_number(min_detectable, k)} {unit} would have been seen (80 % power)"
    else:
        seen = "the minimum detectable difference could not be estimated"
    return Verdict("no detectable effect", f"not significant (p_holm {float(p_holm):.3g}); {seen}" + trend,
                   "not significant")


def derived_adequacy(arms: Iterable[tuple[str, str, str, str]], under_trained: set[Key],
                     checked: set[Key]) -> str:  # fmt: skip
    """Head adequacy of a comparison from the refinement counts, when comparisons.csv has no
    ``adequacy``: ``arms`` are its (dataset, backbone, variant, output); a refined arm whose head
    is in ``under_trained`` makes it "head under-trained"; "adequate" when it has refined arms and
    every one was ``checked``; otherwise "undetermined" (the backbone is not judged here)."""
    heads = {(d, b, v) for d, b, v, o in arms if o == "refined"}
    if heads & under_trained:
        return "head under-trained"
    return "adequate" if heads and heads <= checked else "undetermined"


def _text(value: Any, allowed: Sequence[str], default: str) -> str:
    return str(value) if not is_missing(value) and str(value) in allowed else default


def _missing_reason(claim: Claim, dataset: str, backbone: str, ran: set[tuple[str, str]]) -> str:
    setting = f"{dataset} / {backbone}"
    for variant, output in (claim.arm, claim.reference_arm):
        if (variant, output) not in ran:
            absent = not any(v == variant for v, _ in ran)
            what = f"variant {variant!r} is not configured" if absent else f"{variant} has no {output} output"
            return f"{what} for {setting}"
    return (f"no comparison row for {claim.variant} ({claim.output}) vs {claim.reference} "
            f"({claim.reference_output}) on {setting}: rerun `morse-bench compare --claims`")  # fmt: skip


def _base(claim: Claim, dataset: str, backbone: str, metric: str) -> dict[str, Any]:
    return {"claim": claim.id, "label": claim.label, "statement": claim.claim, "dataset": dataset, "backbone": backbone,
            "metric": metric, "direction": claim.metrics[metric], "variant": claim.variant,
            "output": claim.output, "reference_variant": claim.reference or "",
            "reference_output": claim.reference_output if claim.reference else "", "knob": claim.trend or ""}  # fmt: skip


def _comparison_row(claim: Claim, metric: str, row: pd.Series | None, reason: str | None,
                    under_trained: set[Key], checked: set[Key]) -> dict[str, Any]:  # fmt: skip
    if row is None:
        verdict = decide(None, None, claim.metrics[metric], metric=metric, not_run=reason)
        return {"state": verdict.state, "reason": verdict.reason, "adequacy": "undetermined",
                "budget_trend": "not available"}  # fmt: skip
    d, b = str(row["dataset"]), str(row["backbone"])
    arms = [(d, b, claim.variant, claim.output), (d, b, str(claim.reference), claim.reference_output)]
    adequacy = _text(row.get("adequacy"), ADEQUACY, derived_adequacy(arms, under_trained, checked))
    trend = _text(row.get("budget_trend"), TRENDS, "not available")
    verdict = decide(row["mean_difference"], row["p_holm"], claim.metrics[metric], metric=metric,
                     n_cases=row["n_cases"], adequacy=adequacy, budget_trend=trend,
                     min_detectable=row.get("min_detectable_difference"), rank_effect=row.get("effect_size"))  # fmt: skip
    return {"state": verdict.state, "reason": verdict.reason, "effect": row["mean_difference"],
            "ci_low": row["ci_low"], "ci_high": row["ci_high"], "p_holm": row["p_holm"],
            "min_detectable_difference": row.get("min_detectable_difference"), "n_cases": row["n_cases"],
            "n_seeds": row["n_seeds"], "adequacy": adequacy, "budget_trend": trend}  # fmt: skip


def _non_monotone(row: pd.Series) -> str | None:
    """How a trend row's curve is not monotone (``ablation_trends.csv``'s shape), None if it is."""
    shape = row.get("shape")
    if is_missing(shape) or str(shape) not in NON_MONOTONE:
        return None
    return (f"{shape} over the values {row.get('values')} (case means {row.get('means')}; curvature "
            f"p_holm {float(row.get('p_curvature_holm')):.3g})")  # fmt: skip


def _trend_row(claim: Claim, metric: str, dataset: str, backbone: str,
               trends: pd.DataFrame | None) -> dict[str, Any]:  # fmt: skip
    direction = claim.metrics[metric]
    if trends is None:
        reason = "no ablation trend table (ablation_trends.csv) in the results: the ablation was not run"
        verdict = decide(None, None, direction, metric=metric, not_run=reason)
        return {"state": verdict.state, "reason": verdict.reason, "adequacy": "undetermined",
                "budget_trend": "not available"}  # fmt: skip
    hit = trend_rows(trends, knob=claim.trend, metric=metric, output=claim.output, dataset=dataset,
                     backbone=backbone, base=claim.variant)  # fmt: skip
    if hit.empty:
        reason = f"{claim.trend} was not ablated on {dataset} / {backbone} ({claim.output} output, {metric})"
        verdict = decide(None, None, direction, metric=metric, not_run=reason)
        return {"state": verdict.state, "reason": verdict.reason, "adequacy": "undetermined",
                "budget_trend": "not available"}  # fmt: skip
    row = hit.iloc[0]
    adequacy = _text(row.get("adequacy"), ADEQUACY, "undetermined")
    verdict = decide(row["slope"], row["p_holm"], direction, metric=metric, adequacy=adequacy,
                     ci=(row["ci_low"], row["ci_high"]), non_monotone=_non_monotone(row))  # fmt: skip
    return {"state": verdict.state, "reason": f"slope per step of {claim.trend}: {verdict.reason}",
            "effect": row["slope"], "ci_low": row["ci_low"], "ci_high": row["ci_high"], "p_holm": row["p_holm"],
            "adequacy": adequacy, "budget_trend": "not available"}  # fmt: skip


def claim_verdicts(
    claims: Sequence[Claim],
    comparisons: pd.DataFrame,
    ran: Mapping[tuple[str, str], set[tuple[str, str]]],
    trends: pd.DataFrame | None = None,
    under_trained: set[Key] = frozenset(),
    checked: set[Key] = frozenset(),
) -> pd.DataFrame:
    """One row per claim x (dataset, backbone) of ``ran`` x claimed metric, with
    :data:`VERDICT_COLUMNS`. ``ran`` maps each dataset x backbone to the (variant, output) arms
    that were scored there (a claim on an arm that did not run is "not run", with the reason);
    ``trends`` is ``ablation_trends.csv`` (None when absent); ``under_trained`` and ``checked``
    are the heads flagged by, and the heads seen in, the refinement counts (for
    :func:`derived_adequacy`)."""
    index = {}
    for _, row in comparisons.iterrows():
        key = (str(row["dataset"]), str(row["backbone"]), str(row["metric"]), str(row["variant"]),
               str(row["output"]), str(row["reference_variant"]), str(row["reference_output"]))  # fmt: skip
        index.setdefault(key, row)
    rows = []
    for claim in claims:
        for (dataset, backbone), arms in sorted(ran.items()):
            for metric in claim.metrics:
                base = _base(claim, dataset, backbone, metric)
                if claim.trend is not None:
                    verdict = _trend_row(claim, metric, dataset, backbone, trends)
                else:
                    key = (dataset, backbone, metric, *claim.arm, *claim.reference_arm)
                    row = index.get(key)
                    reason = None
                    if row is None:
                        compared = not comparisons.empty and metric in set(comparisons["metric"].astype(str))
                        reason = (_missing_reason(claim, dataset, backbone, arms) if compared
                                  else f"{metric} was not compared (not in comparisons.csv)")  # fmt: skip
                    verdict = _comparison_row(claim, metric, row, reason, under_trained, checked)
                if verdict["state"] == "not run" and claim.run_by:
                    verdict["reason"] += f"; the study `make run CONFIG=\"{claim.run_by}\"` runs it on its own data"
                rows.append({**base, **verdict})
    out = pd.DataFrame(rows).reindex(columns=VERDICT_COLUMNS)
    return out.astype({"n_cases": "Int64", "n_seeds": "Int64"})


def scored_arms(metrics: pd.DataFrame) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Per dataset x backbone of the aggregated metrics, the (variant, output) arms scored there."""
    keys = metrics[["dataset", "backbone", "variant", "output"]].astype(str).drop_duplicates()
    ran: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for d, b, v, o in keys.itertuples(index=False):
        ran.setdefault((d, b), set()).add((v, o))
    return ran
