"""Summarise the per-run ``metrics.csv`` files over cases and seeds.

:func:`morse.analysis.inputs.tables.aggregate_metrics` reads them into one tidy frame: one row
per run x output x case x class, with the columns of its ``REQUIRED_COLUMNS``. Summaries average
over the test cases of each seed first, then report the mean and the standard deviation (ddof=1)
of those per-seed means across seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from morse.analysis.inputs.tables import RUN_KEYS
from morse.analysis.summaries.cases import case_values
from morse.analysis.vocabulary import METRICS

GROUP_KEYS = ["dataset", "backbone", "variant", "output"]
SUMMARY_COLUMNS = [*GROUP_KEYS, "class", "metric", "mean", "std", "n_seeds", "n_cases"]

__all__ = ["summarise", "empty_counts"]


def _case_level(metrics: pd.DataFrame, metric_cols: list[str]) -> pd.DataFrame:
    """Per-class rows plus the per-case foreground ("mean") and region ("mean_regions") values
    of :func:`~morse.analysis.summaries.cases.case_values` (regions never mixed with labels)."""
    parts = [metrics[[*RUN_KEYS, "case", "class", *metric_cols]]]
    index = metrics["class_index"]
    for name, classes, present in (("mean", "foreground", (index >= 1).any()),
                                   ("mean_regions", "regions", (index < 0).any())):
        if present:
            values = pd.concat([case_values(metrics, m, classes) for m in metric_cols], axis=1)
            parts.append(values.reset_index().assign(**{"class": name}))
    return pd.concat(parts, ignore_index=True)


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean over cases per seed, then mean and std (ddof=1) over seeds, in long format.

    One row per dataset x backbone x variant x output x class x metric with columns
    ``dataset, backbone, variant, output, class, metric, mean, std, n_seeds, n_cases``.
    ``class == "mean"`` is the average over foreground classes (class_index >= 1, regions
    excluded) computed per case; ``class == "mean_regions"`` the same over regions, when any.
    ``std`` is NaN with a single seed; ``n_cases`` counts distinct cases over all seeds.
    """
    metric_cols = [c for c in METRICS if c in metrics.columns]
    if metrics.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    case_level = _case_level(metrics, metric_cols)
    long = case_level.melt(
        id_vars=[*RUN_KEYS, "case", "class"], value_vars=metric_cols, var_name="metric"
    )
    keys = [*GROUP_KEYS, "class", "metric"]
    per_seed = long.groupby([*keys, "seed"], sort=True)["value"].mean().reset_index()
    out = per_seed.groupby(keys, sort=True)["value"].agg(
        mean="mean", std=lambda v: v.std(ddof=1) if len(v) > 1 else np.nan, n_seeds="size"
    )
    n_cases = long.groupby(keys, sort=True)["case"].nunique().rename("n_cases")
    out = out.join(n_cases).reset_index()
    out["n_seeds"] = out["n_seeds"].astype(int)
    out["n_cases"] = out["n_cases"].astype(int)
    # classes in label order, then the averages
    order = (
        metrics.groupby("class")["class_index"]
        .first()
        .map(lambda i: i if i >= 0 else 10_000)
        .to_dict()
    )
    order.update({"mean": 20_000, "mean_regions": 20_001})
    metric_order = {m: i for i, m in enumerate(metric_cols)}
    out = out.assign(_c=out["class"].map(order), _m=out["metric"].map(metric_order)).sort_values(
        [*GROUP_KEYS, "_c", "class", "_m"], kind="mergesort"
    )
    return out[SUMMARY_COLUMNS].reset_index(drop=True)


def empty_counts(metrics: pd.DataFrame) -> pd.DataFrame:
    """Counts of empty masks per dataset x backbone x variant x output x class.

    Columns: the group keys, ``class``, ``n`` (case x seed rows), ``empty_reference``,
    ``empty_prediction``, ``both_empty`` (each counted over all seeds and cases),
    ``reference_only_empty`` (false positives on an empty reference) and
    ``prediction_only_empty`` (missed structures).
    """
    frame = metrics[[*GROUP_KEYS, "class", "class_index", "empty_reference", "empty_prediction"]]
    er = frame["empty_reference"].astype(bool)
    ep = frame["empty_prediction"].astype(bool)
    frame = frame.assign(
        empty_reference=er.astype(int),
        empty_prediction=ep.astype(int),
        both_empty=(er & ep).astype(int),
        reference_only_empty=(er & ~ep).astype(int),
        prediction_only_empty=(~er & ep).astype(int),
        n=1,
    )
    cols = [
        "n",
        "empty_reference",
        "empty_prediction",
        "both_empty",
        "reference_only_empty",
        "prediction_only_empty",
    ]
    out = frame.groupby([*GROUP_KEYS, "class_index", "class"], sort=True)[cols].sum().reset_index()
    out = out.sort_values(
        [*GROUP_KEYS, "class_index", "class"],
        key=lambda s: s.where(s >= 0, 10_000) if s.name == "class_index" else s,
        kind="mergesort",
    )
    return out[[*GROUP_KEYS, "class", *cols]].reset_index(drop=True)
