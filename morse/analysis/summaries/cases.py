"""The one per-case reduction every comparison, table and figure uses, and what builds on it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["RUN_KEYS", "case_means", "case_values", "per_class_points", "training_curves"]

#: A run's scored output: the unit whose cases are compared.
RUN_KEYS = ["dataset", "backbone", "variant", "output", "seed"]
_ARM_KEYS = ["dataset", "backbone", "variant", "output"]


def _finite(values: pd.Series) -> pd.Series:
    """Float copy with +-inf turned into NaN."""
    out = pd.to_numeric(values, errors="coerce").astype(float)
    return out.where(np.isfinite(out))


def case_values(metrics: pd.DataFrame, metric: str, classes: str = "foreground") -> pd.Series:
    """THE per-case value of a metric: per run output and case, the mean over the label classes
    (``classes="foreground"``: ``class_index >= 1``) or over the regions (``"regions"``:
    ``class_index < 0``, e.g. BraTS WT/TC/ET), never both. A case with a non-finite value (NaN,
    or an infinite distance) in any of those classes is NaN: it is left out, never averaged
    over fewer classes. Indexed by dataset, backbone, variant, output, seed, case."""
    if metric not in metrics.columns:
        raise ValueError(f"metric column {metric!r} not in metrics frame")
    if classes not in ("foreground", "regions"):
        raise ValueError(f"classes must be 'foreground' or 'regions', got {classes!r}")
    index = pd.to_numeric(metrics["class_index"])
    rows = metrics[index >= 1] if classes == "foreground" else metrics[index < 0]
    keys = [*RUN_KEYS, "case"]
    values = _finite(rows[metric])
    by = [rows[k] for k in keys]
    means = values.groupby(by, sort=True).mean()
    means[values.isna().groupby(by, sort=True).any()] = np.nan
    return means.rename(metric)


def case_means(metrics: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Per dataset x backbone x variant x output x case x metric: the :func:`case_values`
    averaged over the seeds that have it (``value``, ``n_seeds``); cases without any are left out.
    Metrics of ``names`` missing from the frame are skipped."""
    parts = []
    for metric in [m for m in names if m in metrics.columns]:
        values = case_values(metrics, metric).dropna().rename("value").reset_index()
        per_case = values.groupby([*_ARM_KEYS, "case"], as_index=False).agg(
            value=("value", "mean"), n_seeds=("seed", "nunique"))
        parts.append(per_case.assign(metric=metric))
    columns = [*_ARM_KEYS, "case", "metric", "value", "n_seeds"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def per_class_points(metrics: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """One point per class and test case: the metric averaged over seeds (the seeds are not
    independent cases), non-finite values left out. Long format with ``metric`` and ``value``."""
    keys = [*_ARM_KEYS, "class", "class_index", "case"]
    parts = []
    for metric in [m for m in names if m in metrics.columns]:
        data = metrics[keys].assign(value=_finite(metrics[metric]))
        per_case = data.groupby(keys, as_index=False, dropna=False)["value"].mean()
        parts.append(per_case.assign(metric=metric))
    columns = [*keys, "metric", "value"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


#: The train_log.csv columns the training curves summarise.
TRAINING_COLUMNS = ("loss", "point_loss", "coarse_point_loss", "point_accuracy", "coarse_point_accuracy")


def training_curves(logs: pd.DataFrame, without_head: Iterable[tuple[str, str, str]] = ()) -> pd.DataFrame:
    """Loss, and where logged the head's point loss and accuracy and the coarse logits' loss and
    accuracy at the same points, per dataset x backbone x variant x iteration: mean and SD over
    seeds and the number of seeds (``column`` names the logged quantity). Variants named in
    ``without_head`` (dataset, backbone, variant) keep only their loss: a bare backbone logs a
    point loss of 0 that measures nothing."""
    headless = set(without_head)
    if headless and len(logs):
        keys = zip(logs["dataset"].astype(str), logs["backbone"].astype(str), logs["variant"].astype(str), strict=True)
        mask = [k in headless for k in keys]
        logs = logs.copy()
        logs.loc[mask, [c for c in TRAINING_COLUMNS[1:] if c in logs.columns]] = float("nan")
    columns = ["dataset", "backbone", "variant", "column", "iteration", "mean", "std", "n_seeds"]
    parts = []
    for column in TRAINING_COLUMNS:
        if column not in logs.columns or not logs[column].notna().any():
            continue
        data = logs.dropna(subset=[column])
        keys = ["dataset", "backbone", "variant"]
        stats = data.groupby([*keys, "iteration"])[column].agg(["mean", "std"]).reset_index()
        seeds = data.groupby(keys)["seed"].nunique().rename("n_seeds").reset_index()
        parts.append(stats.merge(seeds, on=keys).assign(column=column))
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
