"""Collect per-run ``metrics.csv`` files and summarise them over cases and seeds.

Each per-run file is tidy: one row per run x output x case x class, with the columns of
:data:`REQUIRED_COLUMNS`. Summaries average over the test cases of each seed first, then report
the mean and the standard deviation (ddof=1) of those per-seed means across seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from morse.analysis.summaries.cases import case_values
from morse.analysis.vocabulary import METRICS
from morse.evaluation.metrics import METRIC_COLUMNS

RUN_KEYS = ["dataset", "backbone", "variant", "seed", "output"]
GROUP_KEYS = ["dataset", "backbone", "variant", "output"]
REQUIRED_COLUMNS = [
    *RUN_KEYS,
    "case",
    "class",
    "class_index",
    *METRIC_COLUMNS,
    "empty_reference",
    "empty_prediction",
]
SORT_KEYS = [*RUN_KEYS, "case", "class_index", "class"]
SUMMARY_COLUMNS = [*GROUP_KEYS, "class", "metric", "mean", "std", "n_seeds", "n_cases"]

__all__ = [
    "RUN_KEYS",
    "REQUIRED_COLUMNS",
    "aggregate_metrics",
    "summarise",
    "empty_counts",
]

_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f", ""}


def _to_bool(series: pd.Series, name: str, source: str) -> pd.Series:
    """Parse a boolean column that may have been read back from CSV as text."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(bool)
    text = series.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise ValueError(
            f"{source}: column {name!r} has non-boolean values {sorted(set(text[bad]))}"
        )
    return text.isin(_TRUE)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in SORT_KEYS if k in frame.columns]
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


def aggregate_metrics(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate per-run metrics.csv files into one frame, checked and sorted.

    Raises ``ValueError`` naming the file when it lacks a required column, and when no path
    is given; ``FileNotFoundError`` naming the run when its file is missing. Case and class identifiers are kept as strings (case ``"0001"`` stays ``"0001"``).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("aggregate_metrics: no metrics files given")
    frames = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(
                f"run {path.parent}: {path.name} is missing, but the config names this run; "
                "rerun snakemake to evaluate it"
            )
        frame = pd.read_csv(
            path,
            dtype={
                "dataset": str,
                "backbone": str,
                "variant": str,
                "output": str,
                "case": str,
                "class": str,
            },
            keep_default_na=False,
            na_values=["", "nan", "NaN"],
        )
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing required column(s) {missing}")
        for col in ("empty_reference", "empty_prediction"):
            frame[col] = _to_bool(frame[col], col, str(path))
        frame["seed"] = frame["seed"].astype(np.int64)
        frame["class_index"] = frame["class_index"].astype(np.int64)
        for col in METRIC_COLUMNS:
            frame[col] = pd.to_numeric(frame[col], errors="raise").astype(float)
        frame["source"] = str(path)
        frames.append(frame)
    return _sorted(pd.concat(frames, ignore_index=True))


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
