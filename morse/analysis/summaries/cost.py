"""Cost against accuracy: training seconds per iteration beside the case-mean scores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from morse.analysis.inputs.runs import Run
from morse.analysis.summaries.ablation import value_label
from morse.analysis.summaries.cases import case_means
from morse.analysis.vocabulary import HEADLINE, PRIMARY, output_rank, variant_rank

__all__ = ["COST_COLUMNS", "cost_accuracy_summary", "cost_labels", "pareto_front"]

#: Head settings named in a point's label when the variants of a panel do not all share them.
_LABEL_KNOBS = ("expert_width", "fusion", "gate_resolution")
COST_COLUMNS = ["dataset", "backbone", "variant", "output", "label", "s_per_iteration",
                "n_timed_runs", *HEADLINE, "n_cases", "on_front"]  # fmt: skip


def _seconds_per_iteration(runs: Sequence[Run]) -> dict[tuple[str, str, str], tuple[float, int]]:
    """(dataset, backbone, variant) -> (median over runs of 1 / iterations_per_s, n runs).

    Runs without a positive, finite ``iterations_per_s`` are not timed and left out."""
    found: dict[tuple[str, str, str], list[float]] = {}
    for run in runs:
        try:
            rate = float(run.info.get("iterations_per_s"))
        except (TypeError, ValueError):
            continue
        if np.isfinite(rate) and rate > 0:
            found.setdefault((run.dataset, run.backbone, run.variant), []).append(1.0 / rate)
    return {k: (float(np.median(v)), len(v)) for k, v in found.items()}


def _knob_applies(head: dict[str, Any], knob: str) -> bool:
    """Whether a head setting shapes the run: none does for the bare backbone (``head_type:
    none``, whose recorded settings are unused defaults); ``gate_resolution`` only with dense
    fusion."""
    if head.get("head_type", "implicit") == "none":
        return False
    return knob != "gate_resolution" or head.get("fusion") == "dense"


def cost_labels(runs: Sequence[Run], dataset: str, backbone: str, variants: list[str]) -> dict[str, str]:
    """Variant -> label: its name, plus the head settings that differ between the variants."""
    heads: dict[str, dict[str, Any]] = {}
    for run in runs:
        if (run.dataset, run.backbone) == (dataset, backbone) and run.variant in variants and run.head:
            heads.setdefault(run.variant, run.head)
    extra: dict[str, list[str]] = {v: [] for v in variants}
    for knob in _LABEL_KNOBS:
        values = {v: h[knob] for v, h in heads.items()
                  if h.get(knob) is not None and _knob_applies(h, knob)}  # fmt: skip
        if len({json.dumps(x, sort_keys=True, default=str) for x in values.values()}) > 1:
            for variant, value in values.items():
                extra[variant].append(f"{knob}={value_label(value)}")
    return {v: v + (f" ({', '.join(extra[v])})" if extra[v] else "") for v in variants}


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mask of the points with the best score for at most their cost (higher score better):
    no other point is at most as costly and strictly better, and ties keep the first."""
    cost, score = np.asarray(cost, dtype=float), np.asarray(score, dtype=float)
    on = np.zeros(cost.shape, dtype=bool)
    valid = np.flatnonzero(np.isfinite(cost) & np.isfinite(score))
    best = -np.inf
    for i in valid[np.lexsort((-score[valid], cost[valid]))]:  # cheapest first, best first
        if score[i] > best:
            on[i] = True
            best = score[i]
    return on


def cost_accuracy_summary(metrics: pd.DataFrame, runs: Sequence[Run]) -> pd.DataFrame:
    """One row per dataset x backbone x timed variant x output: what the cost figure draws.

    ``s_per_iteration``: median over the variant's runs (seeds) of 1 / ``iterations_per_s``
    from run.json; the headline metrics: mean over cases of the case means (as in the ablation
    figure); ``on_front``: on the Pareto front of the primary metric (Dice) of its dataset x backbone (best Dice for at
    most that cost). The baseline contributes its coarse output only. Facets with fewer than two
    timed variants that have metrics are left out.
    """
    if metrics.empty:
        return pd.DataFrame(columns=COST_COLUMNS)
    timings = _seconds_per_iteration(runs)
    keys = ["dataset", "backbone", "variant", "output"]
    means = case_means(metrics, HEADLINE).groupby([*keys, "metric"])["value"].agg(["mean", "count"])
    rows = []
    arms = metrics[keys].astype(str).drop_duplicates()
    for (dataset, backbone), sub in arms.groupby(["dataset", "backbone"], sort=True):
        timed = [v for v in sub["variant"].unique() if (dataset, backbone, v) in timings]
        if len(timed) < 2:
            continue
        labels = cost_labels(runs, dataset, backbone, timed)
        for variant, output in sub[["variant", "output"]].itertuples(index=False):
            if variant not in timed or (variant == "baseline" and output != "coarse"):
                continue
            seconds, n_runs = timings[(dataset, backbone, variant)]
            row = {"dataset": dataset, "backbone": backbone, "variant": variant, "output": output,
                   "label": labels[variant], "s_per_iteration": seconds, "n_timed_runs": n_runs,
                   "n_cases": 0}  # fmt: skip
            for metric in HEADLINE:
                key = (dataset, backbone, variant, output, metric)
                found = key in means.index
                row[metric] = float(means.loc[key, "mean"]) if found else float("nan")
                if found:
                    row["n_cases"] = max(row["n_cases"], int(means.loc[key, "count"]))
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=COST_COLUMNS)
    out = pd.DataFrame(rows)
    out = out.assign(_v=out["variant"].map(variant_rank), _o=out["output"].map(output_rank))
    out = out.sort_values(["dataset", "backbone", "_v", "_o", "output"], kind="stable")
    out = out.drop(columns=["_v", "_o"]).reset_index(drop=True)
    out["on_front"] = False
    for _, index in out.groupby(["dataset", "backbone"]).groups.items():
        sub = out.loc[index]
        out.loc[index, "on_front"] = pareto_front(sub["s_per_iteration"].to_numpy(),
                                                  sub[PRIMARY].to_numpy())  # fmt: skip
    out["on_front"] = out["on_front"].astype(bool)
    return out[COST_COLUMNS]
