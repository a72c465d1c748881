"""The answer the report opens with: the experiment in one line, the verdict matrix (claims x
dataset / backbone, read from ``verdicts.csv``, whose states :func:`morse.analysis.verdicts.decide`
gave), its one-line reading, the rank-stability table, and ``verdicts.json`` (what the index of
experiments shows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from morse.analysis.inputs.runs import Run
from morse.analysis.report.format import fmt, fmt_p, is_missing
from morse.analysis.verdicts import STATES
from morse.analysis.vocabulary import HEADLINE, digits, metric_label

__all__ = ["LEGEND", "experiment_line", "rank_summary", "reading", "regime_sentence", "summary_json", "verdict_details",
           "verdict_matrix"]  # fmt: skip

#: Per state: the symbol in a matrix cell and its legend text (the colour is the CSS class).
LEGEND = {
    "supported": ("✓", "supported: significant (Holm p < 0.05) in the claimed direction"),
    "contradicted": ("✗", "contradicted: significant against it"),
    "no detectable effect": ("○", "no detectable effect: not significant (hover: the effect that would have been seen)"),
    "not evidence": ("!", "not evidence: under-trained head or backbone, or too few cases for a test"),
    "not run": ("–", "not run: the comparison is not in this experiment"),
}


def _css(state: str) -> str:
    return "st-" + state.replace(" ", "-")


def _pairs(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted({(str(d), str(b)) for d, b in frame[["dataset", "backbone"]].itertuples(index=False)})


def _budget(runs: Sequence[Run], pretrain: Sequence[Run], pair: tuple[str, str]) -> str:
    def its(group: Sequence[Run]) -> str:
        found = sorted({r.iterations for r in group if r.iterations is not None})
        return " / ".join(map(str, found)) or "n/a"

    here = [r for r in runs if (r.dataset, r.backbone) == pair]
    first = [r for r in pretrain if (r.dataset, r.backbone) == pair]
    return f"{its(first)} + {its(here)}" if first else its(here)


def experiment_line(runs: Sequence[Run], pretrain: Sequence[Run], metrics: pd.DataFrame) -> str:
    """"phantom2d / unet (10 test cases), ... · budget (iterations, pretrain + per variant): 600 + 600
    · seeds: 0": the data, backbones, training budget and seeds in one line."""
    if not runs:
        return "no runs"
    pairs = sorted({(r.dataset, r.backbone) for r in runs})
    cases = metrics.groupby(metrics["dataset"].astype(str))["case"].nunique() if len(metrics) else pd.Series()
    data = ", ".join(f"{d} / {b} ({int(cases.get(d, 0))} test cases)" for d, b in pairs)
    budgets = {pair: _budget(runs, pretrain, pair) for pair in pairs}
    what = "iterations, pretrain + per variant" if pretrain else "iterations per variant"
    if len(set(budgets.values())) == 1:
        budget = next(iter(budgets.values()))
    else:
        budget = ", ".join(f"{d} / {b} {text}" for (d, b), text in budgets.items())
    seeds = ", ".join(map(str, sorted({r.seed for r in runs})))
    return f"{data} · budget ({what}): {budget} · seeds: {seeds}"


def _effect(row: Any) -> tuple[str, str]:
    """(effect, CI) text of a verdict row in the metric's digits; empty when there is no effect."""
    if is_missing(row.effect):
        return "", ""
    k = digits(str(row.metric))
    ci = "" if is_missing(row.ci_low) else f"[{fmt(row.ci_low, k, signed=True)}, {fmt(row.ci_high, k, signed=True)}]"
    return fmt(row.effect, k, signed=True), ci


def _cell(row: Any) -> dict[str, str]:
    state = str(row.state)
    symbol = LEGEND.get(state, ("?", ""))[0]
    effect, ci = _effect(row)
    cases = "" if is_missing(row.n_cases) else f"; {int(float(row.n_cases))} cases × {int(float(row.n_seeds))} seed(s)"
    return {"state": state, "css": _css(state), "symbol": symbol, "effect": effect or state, "ci": ci,
            "title": f"{state}: {row.reason}{cases}"}  # fmt: skip


def verdict_matrix(verdicts: pd.DataFrame | None) -> dict[str, Any]:
    """Rows (claim x metric, registry order) x columns (dataset / backbone): each cell the state's
    symbol and CSS class, the effect and its CI, and the reason as a tooltip; ``span``: the rows
    the claim's label spans (0 on its later metrics)."""
    if verdicts is None or verdicts.empty:
        return {"columns": [], "rows": []}
    pairs = _pairs(verdicts)
    columns = []
    for d, b in pairs:
        here = verdicts[(verdicts["dataset"].astype(str) == d) & (verdicts["backbone"].astype(str) == b)]
        n = pd.to_numeric(here["n_cases"], errors="coerce").max()
        seeds = pd.to_numeric(here["n_seeds"], errors="coerce").max()
        sub = "" if is_missing(n) else f"{int(n)} cases × {int(seeds)} seed(s)"
        columns.append({"label": f"{d} / {b}", "sub": sub})
    cells = {(str(r.claim), str(r.metric), str(r.dataset), str(r.backbone)): _cell(r)
             for r in verdicts.itertuples(index=False)}  # fmt: skip
    rows = []
    per_claim = verdicts.drop_duplicates(["claim", "metric"])["claim"].astype(str).value_counts()
    for r in verdicts.drop_duplicates(["claim", "metric"]).itertuples(index=False):
        first = not rows or rows[-1]["claim"] != str(r.claim)
        missing = {"state": "not run", "css": _css("not run"), "symbol": "–", "effect": "not run", "ci": "",
                   "title": "not run"}  # fmt: skip
        rows.append({"claim": str(r.claim), "label": str(r.label), "metric": metric_label(str(r.metric)),
                     "comparison": _comparison(r), "span": int(per_claim[str(r.claim)]) if first else 0,
                     "cells": [cells.get((str(r.claim), str(r.metric), d, b), missing) for d, b in pairs]})  # fmt: skip
    return {"columns": columns, "rows": rows}


def _comparison(row: Any) -> str:
    if not is_missing(row.knob) and str(row.knob):
        return f"{row.variant} ({row.output}): trend over {row.knob}"
    return f"{row.variant} ({row.output}) vs {row.reference_variant} ({row.reference_output})"


def reading(verdicts: pd.DataFrame | None, phantoms: Sequence[str] = ()) -> str:
    """The matrix in one line: how many cells are in each state, and which claims are supported
    or contradicted where (the settings named when at most two, else counted)."""
    if verdicts is None or verdicts.empty:
        return "No verdicts: verdicts.csv is not in the results (run `morse-bench verdicts`)."
    counts = verdicts["state"].astype(str).value_counts()
    parts = [f"{int(counts[s])} {s}" for s in STATES if s in counts]
    text = f"Of {len(verdicts)} claim × metric × setting cells: " + ", ".join(parts) + "."
    for state in ("supported", "contradicted"):
        hit = verdicts[verdicts["state"] == state]
        where: dict[str, list[str]] = {}
        for r in hit.itertuples(index=False):
            settings = where.setdefault(str(r.label), [])
            if f"{r.dataset} / {r.backbone}" not in settings:
                settings.append(f"{r.dataset} / {r.backbone}")
        if where:
            text += f" {state.capitalize()}: " + "; ".join(
                f"{label} ({', '.join(s) if len(s) <= 2 else f'{len(s)} settings'})" for label, s in where.items()) + "."
    text += regime_sentence(verdicts)
    if phantoms:
        text += " Phantom data: this tests the pipeline, not the paper."
    return text


def regime_sentence(verdicts: pd.DataFrame) -> str:
    """Which regime the cells that ran speak of: how many passed the backbone and head checks
    (``adequacy``), and how their differences move across the training budget (``budget_trend``)."""
    ran = verdicts[verdicts["state"].astype(str) != "not run"]
    if ran.empty or "adequacy" not in ran.columns:
        return ""
    adequacy = ran["adequacy"].astype(str).value_counts()
    n = len(ran)
    if adequacy.get("adequate", 0) == n:
        text = (f" Regime: in all {n} cells that ran, backbone and head passed their training checks, "
                "at the budget above; a difference is a statement about that budget.")
    else:
        others = ", ".join(f"{int(c)} {state}" for state, c in adequacy.items() if state != "adequate")
        text = (f" Regime: {int(adequacy.get('adequate', 0))} of the {n} cells that ran passed the backbone "
                f"and head checks ({others}): those others are not evidence about the method.")
    trends = ran.get("budget_trend", pd.Series(dtype=str)).astype(str)
    trends = trends[trends != "not available"].value_counts()
    if len(trends):
        text += " Across the training budget the differences are " + ", ".join(
            f"{state} in {int(c)}" for state, c in trends.items()) + "."
    return text


def verdict_details(verdicts: pd.DataFrame | None) -> pd.DataFrame:
    """Every verdict row in words (the collapsible table under the matrix)."""
    if verdicts is None or verdicts.empty:
        return pd.DataFrame()
    out = []
    for r in verdicts.itertuples(index=False):
        effect, ci = _effect(r)
        k = digits(str(r.metric))
        out.append({"claim": r.label, "setting": f"{r.dataset} / {r.backbone}", "metric": metric_label(str(r.metric)),
                    "comparison": _comparison(r), "state": r.state, "effect [95% CI]": f"{effect} {ci}".strip() or "–",
                    "p (Holm)": fmt_p(r.p_holm), "min. detectable": fmt(r.min_detectable_difference, k),
                    "cases × seeds": "–" if is_missing(r.n_cases) else f"{int(float(r.n_cases))} × {int(float(r.n_seeds))}",
                    "adequacy": r.adequacy, "budget trend": r.budget_trend, "why": r.reason})  # fmt: skip
    return pd.DataFrame(out)


def rank_summary(ranks: pd.DataFrame | None) -> pd.DataFrame:
    """Per dataset x backbone x metric: the entries in full-data rank order with the share of
    resamples each ranks first, and Kendall's tau (median, 2.5th percentile) against the full ranking."""
    if ranks is None or ranks.empty:
        return pd.DataFrame()
    first = ranks[ranks["rank"].astype(int) == 1]
    first = first.assign(_m=first["metric"].astype(str).map(lambda m: (HEADLINE.index(m) if m in HEADLINE else
                                                                     len(HEADLINE), m)))  # fmt: skip
    out = []
    for (d, b, _, m), group in first.groupby(["dataset", "backbone", "_m", "metric"], sort=True):
        group = group.sort_values(["full_rank", "mean_rank"])
        order = ", ".join(f"{int(r.full_rank)}. {r.variant} ({r.output}) {100 * float(r.share_first):.0f} %"
                          for r in group.itertuples(index=False))  # fmt: skip
        top = group.iloc[0]
        out.append({"setting": f"{d} / {b}", "metric": metric_label(str(m)),
                    "full-data ranking (share of resamples ranked first)": order,
                    "Kendall's τ median [2.5 %]": f"{fmt(top.kendall_tau_median, 2)} [{fmt(top.kendall_tau_low, 2)}]",
                    "cases": int(top.n_cases)})  # fmt: skip
    return pd.DataFrame(out)


def summary_json(experiment: str, generated: str, line: str, matrix: dict[str, Any], text: str,
                 phantoms: Sequence[str], verdicts: pd.DataFrame | None) -> dict[str, Any]:  # fmt: skip
    """``reports/<experiment>/verdicts.json``: what the index of experiments shows."""
    counts = {} if verdicts is None else {str(k): int(v) for k, v in verdicts["state"].value_counts().items()}
    return {"experiment": experiment, "generated": generated, "line": line, "reading": text,
            "phantoms": list(phantoms), "counts": counts, "matrix": matrix, "report": "index.html"}  # fmt: skip
