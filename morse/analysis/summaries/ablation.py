"""The ablation summary: each ablation point's mean over cases with a bootstrap band.

An ablation point's identity (base variant, knob, value) is what the config recorded in the
run's ``run.json`` (``ablation``) when it generated the variant; nothing parses variant names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from baselines.input_sizes import BUILTIN_FEATURE_LEVELS
from morse.analysis.bootstrap import bootstrap_ci
from morse.analysis.inputs.runs import Ablation, Run
from morse.analysis.summaries.cases import case_means
from morse.analysis.vocabulary import HEADLINE, output_rank

__all__ = ["ABLATION_COLUMNS", "ablation_points", "ablation_summary", "knob_series", "value_key", "value_label"]

ABLATION_COLUMNS = [
    "dataset", "backbone", "base", "knob", "value", "value_label", "role", "variant",
    "output", "metric", "mean", "ci_low", "ci_high", "n_cases", "n_seeds",
]  # fmt: skip
_BOOTSTRAP_RESAMPLES = 2000


def value_key(value: Any) -> tuple[int, Any]:
    """Sort key that keeps bools apart from numbers (False < True, then numbers, then text)."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, float(value))
    return (2, str(value))


def value_label(value: Any) -> str:
    """How a knob value is printed: ``false``, ``512``, ``0.5``, ``dense``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


def ablation_points(runs: Sequence[Run]) -> dict[tuple[str, str, str], Ablation]:
    """(dataset, backbone, variant) -> the ablation point its runs train."""
    return {(r.dataset, r.backbone, r.variant): r.ablation for r in runs if r.ablation is not None}


def _head_value(run: Run, knob: str) -> Any:
    """A run's value of a head ``knob`` from its run.json ``head``; ``num_experts`` left unset
    (one expert per feature map) resolved to a built-in backbone's number of feature maps."""
    value = run.head.get(knob)
    if value is None and knob == "num_experts" and run.backbone in BUILTIN_FEATURE_LEVELS:
        options = run.info.get("backbone_options")
        return BUILTIN_FEATURE_LEVELS[run.backbone](options if isinstance(options, dict) else {})
    return value


def _base_value(runs: Sequence[Run], dataset: str, backbone: str, base: str, knob: str) -> Any:
    """The base variant's own value of ``knob`` (:func:`_head_value`; None if unknown)."""
    values = (_head_value(run, knob) for run in runs if (run.dataset, run.backbone, run.variant) == (dataset, backbone, base))
    return next((value for value in values if value is not None), None)


def knob_series(runs: Sequence[Run]) -> dict[tuple[str, str, str, str], list[tuple[Any, str]]]:
    """(dataset, backbone, base, knob) -> its points ``(value, variant)`` in value order: every
    ablation variant, and the base variant at its own value of the knob (from its run.json
    ``head``) unless an ablation variant has that value (the same configuration)."""
    points = ablation_points(runs)
    series: dict[tuple[str, str, str, str], dict[tuple[int, Any], tuple[Any, str]]] = {}
    for (dataset, backbone, variant), point in sorted(points.items()):
        series.setdefault((dataset, backbone, point.base, point.knob), {})[value_key(point.value)] = (point.value, variant)
    for (dataset, backbone, base, knob), known in series.items():
        value = _base_value(runs, dataset, backbone, base, knob)
        if value is not None:
            known.setdefault(value_key(value), (value, base))
    return {key: [known[k] for k in sorted(known)] for key, known in sorted(series.items())}


def _row(group: pd.DataFrame, key: tuple[str, ...], metric: str, **fields: Any) -> dict[str, Any]:
    # percentile: a band for the curves, not a test; BCa is for the paired comparisons
    low, high = bootstrap_ci(group["value"].to_numpy(), _BOOTSTRAP_RESAMPLES, methods=("percentile",))
    return {"dataset": key[0], "backbone": key[1], "variant": key[2], "output": key[3],
            "metric": metric, "mean": float(group["value"].mean()), "ci_low": low,
            "ci_high": high, "n_cases": int(len(group)), "n_seeds": int(group["n_seeds"].max()),
            **fields}  # fmt: skip


def ablation_summary(metrics: pd.DataFrame, runs: Sequence[Run]) -> pd.DataFrame:
    """One row per ablation point x output x headline metric, plus the baseline reference.

    Ablation points are the runs with a recorded ``ablation`` and, per knob, the base variant
    itself at its own value of the knob (from its run.json ``head``; left out when unknown).
    ``mean``: the mean over cases of :func:`~morse.analysis.summaries.case_means`; ``ci_low`` /
    ``ci_high``: a seeded 95% percentile bootstrap CI over cases. Baseline coarse rows have
    ``knob == ""`` (``role == "reference"``). Empty frame when there is no ablation variant.
    """
    points = ablation_points(runs)
    if metrics.empty or not points:
        return pd.DataFrame(columns=ABLATION_COLUMNS)
    cases = case_means(metrics, HEADLINE)
    groups = dict(iter(cases.groupby(["dataset", "backbone", "variant", "output", "metric"])))
    rows: list[dict[str, Any]] = []

    def add(key: tuple[str, str, str, str], metric: str, **fields: Any) -> None:
        group = groups.get((*key, metric))
        if group is not None and len(group):
            rows.append(_row(group, key, metric, **fields))

    facets = sorted({k[:2] for k in groups})
    for metric in [m for m in HEADLINE if m in metrics.columns]:
        for dataset, backbone in facets:
            here = sorted({k[2:4] for k in groups if k[:2] == (dataset, backbone)})
            ablated = {(v, o): points[(dataset, backbone, v)] for v, o in here
                       if (dataset, backbone, v) in points}  # fmt: skip
            if not ablated:
                continue
            add((dataset, backbone, "baseline", "coarse"), metric, base="", knob="",
                value=None, value_label="", role="reference")  # fmt: skip
            for (variant, output), point in sorted(ablated.items()):
                add((dataset, backbone, variant, output), metric, base=point.base,
                    knob=point.knob, value=point.value, value_label=value_label(point.value),
                    role="ablation")  # fmt: skip
            for base, knob in sorted({(p.base, p.knob) for p in ablated.values()}):
                value = _base_value(runs, dataset, backbone, base, knob)
                if value is None:
                    continue
                for output in sorted(o for v, o in here if v == base):
                    add((dataset, backbone, base, output), metric, base=base, knob=knob,
                        value=value, value_label=value_label(value), role="base")  # fmt: skip
    out = pd.DataFrame(rows, columns=ABLATION_COLUMNS)
    if out.empty:
        return out
    order = {
        "_m": out["metric"].map({m: i for i, m in enumerate(HEADLINE)}),
        "_r": out["role"].map({"reference": 0, "base": 1, "ablation": 1}),
        "_v": out["value"].map(value_key),
        "_o": out["output"].map(output_rank),
    }
    out = out.assign(**order).sort_values(
        ["dataset", "backbone", "_m", "_r", "base", "knob", "_v", "_o", "variant"], kind="stable")
    return out.drop(columns=list(order)).reset_index(drop=True)
