"""Is the head trained? The refinement counts of every run (``refinement.csv``, see
:mod:`morse.evaluation.refinement`) summed over cases and classes, per run and per variant.

A head whose refinement breaks more pixels than it fixes is flagged **under-trained**: its refined
output is evidence about its training budget, not about the method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from morse.analysis.bootstrap import bootstrap_ci
from morse.evaluation.refinement import ALL_STEPS, COUNT_COLUMNS, RUN_COLUMNS

NO_HEAD = "no head"
NO_STEPS = "no refinement steps"
UNDER_TRAINED = "under-trained"
FIXES_MORE = "fixes at least as much as it breaks"

__all__ = [
    "refinement_totals",
    "refinement_table",
]


def _with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add accuracies at the overwritten pixels, their difference and the under-trained flag."""
    n = frame["overwritten"].where(frame["overwritten"] > 0)
    return frame.assign(
        coarse_accuracy=frame["coarse_correct"] / n,
        refined_accuracy=frame["refined_correct"] / n,
        accuracy_change=(frame["refined_correct"] - frame["coarse_correct"]) / n,
        under_trained=frame["broken"] > frame["fixed"],
    )


def refinement_totals(rows: pd.DataFrame) -> pd.DataFrame:
    """Per run and step: the counts summed over cases and classes, ``coarse_accuracy``,
    ``refined_accuracy``, ``accuracy_change`` (refined - coarse) and ``under_trained``
    (broken > fixed)."""
    keys = [*RUN_COLUMNS, "step"]
    totals = rows.groupby(keys, sort=True)[COUNT_COLUMNS].sum().reset_index()
    return _with_rates(totals)


def _case_changes(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group and case: refined - coarse accuracy at the overwritten pixels, averaged over
    seeds (each seed's case pools its classes; cases with nothing overwritten are left out)."""
    per_seed = rows.groupby([*keys, "case", "seed"], sort=True)[COUNT_COLUMNS].sum().reset_index()
    per_seed = _with_rates(per_seed).dropna(subset=["accuracy_change"])
    return per_seed.groupby([*keys, "case"], sort=True)["accuracy_change"].mean().reset_index()


def refinement_table(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    step: str | None = ALL_STEPS,
    n_resamples: int = 10000,
    seed: int = 0,
) -> pd.DataFrame:
    """The head-adequacy table of the report: one row per dataset x backbone x variant (x step).

    ``rows``: the aggregated refinement.csv; ``runs``: any frame with ``dataset, backbone,
    variant`` and ``output`` (e.g. the aggregated metrics.csv): a variant without a ``refined``
    output has no head. ``step``: "all" (default), "1".."S", or None for every step.
    Columns: the counts summed over seeds, cases and classes, the pooled accuracies at the
    overwritten pixels and their ``accuracy_change`` (refined - coarse); ``case_mean_change``, the
    mean over cases of the per-case change (seeds averaged per case), with ``ci_low`` / ``ci_high``
    its paired 95 % bootstrap CI across cases; ``n_seeds``, ``n_cases``, ``under_trained`` and
    ``verdict``: "under-trained", "fixes at least as much as it breaks", "no head" or
    "no refinement steps" (the last two with empty counts).
    """
    group = ["dataset", "backbone", "variant"]
    keys = [*group, "step"]
    if step is not None:
        rows = rows[rows["step"] == step]
    totals = rows.groupby(keys, sort=True)[COUNT_COLUMNS].sum().reset_index()
    counts = rows.groupby(keys, sort=True).agg(n_seeds=("seed", "nunique"), n_cases=("case", "nunique"))
    table = _with_rates(totals).merge(counts.reset_index(), on=keys, how="left")
    changes = _case_changes(rows, keys)
    intervals = [
        (*name, *bootstrap_ci(part["accuracy_change"].to_numpy(), n_resamples=n_resamples, seed=seed))
        for name, part in changes.groupby(keys, sort=True)
    ]
    ci = pd.DataFrame(intervals, columns=[*keys, "ci_low", "ci_high"])
    case_mean = changes.groupby(keys, sort=True)["accuracy_change"].mean().rename("case_mean_change")
    table = table.merge(case_mean.reset_index(), on=keys, how="left").merge(ci, on=keys, how="left")
    table["verdict"] = np.where(table["under_trained"], UNDER_TRAINED, FIXES_MORE)
    has_head = runs.groupby(group, sort=True)["output"].agg(lambda o: "refined" in set(o))
    present = set(table[group].itertuples(index=False, name=None))
    missing = [
        {**dict(zip(group, name, strict=True)), "step": step, "verdict": NO_STEPS if head else NO_HEAD}
        for name, head in has_head.items() if name not in present
    ]
    if missing:
        table = pd.concat([table, pd.DataFrame(missing)], ignore_index=True)
    columns = [*keys, "n_seeds", "n_cases", *COUNT_COLUMNS, "coarse_accuracy", "refined_accuracy",
               "accuracy_change", "case_mean_change", "ci_low", "ci_high", "under_trained", "verdict"]
    return table.reindex(columns=columns).sort_values(keys, kind="mergesort").reset_index(drop=True)
