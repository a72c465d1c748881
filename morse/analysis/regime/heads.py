"""Is each point head trained? The refinement counts at the pixels it overwrote and the point
loss's plateau, per dataset x backbone x variant and subdivision step (``head_adequacy.csv``).

The counts come from :func:`morse.analysis.refinement.refinement_table` (the aggregated
``refinement.csv``) and the plateau from the run records' ``point_loss_plateau``
(:func:`morse.analysis.convergence.plateau_table`). A head whose refinement breaks more than it
fixes is under-trained unless its point loss is on its plateau in every seed: then it is trained
and its refinement does not help at this setting (:data:`HURTS_CONVERGED`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from morse.analysis.convergence import plateau_table
from morse.analysis.inputs.runs import Run
from morse.analysis.refinement import UNDER_TRAINED, refinement_table
from morse.evaluation.refinement import ALL_STEPS

__all__ = ["HURTS_CONVERGED", "Key", "converged_heads", "head_adequacy", "head_verdicts", "under_trained"]

#: The verdict of a head that breaks more than it fixes although every seed's point loss is on
#: its plateau: trained, and its refinement does not help at this setting.
HURTS_CONVERGED = "breaks more than it fixes (point loss on its plateau)"
Key = tuple[str, str, str]


def converged_heads(runs: Iterable[Run]) -> set[Key]:
    """(dataset, backbone, variant) whose every head run's point loss is on its plateau."""
    table = plateau_table(run.info for run in runs)
    if table.empty:
        return set()
    every = table.groupby(["dataset", "backbone", "variant"])["converged"].agg(
        lambda c: bool(c.notna().all() and c.astype(bool).all()))
    return {(str(d), str(b), str(v)) for (d, b, v), ok in every.items() if ok}


def head_adequacy(refinement: pd.DataFrame | None, metrics: pd.DataFrame, runs: Sequence[Run],
                  n_resamples: int = 10000, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """:func:`refinement_table` for every step ("1".."S" and "all"); empty without refinement.csv.
    A head that breaks more than it fixes is "under-trained" unless every run of it in ``runs``
    has its point loss on its plateau: then :data:`HURTS_CONVERGED`."""
    if refinement is None:
        return pd.DataFrame()
    table = refinement_table(refinement, metrics, step=None, n_resamples=n_resamples, seed=seed)
    converged = converged_heads(runs)
    keys = list(zip(table["dataset"].astype(str), table["backbone"].astype(str),
                    table["variant"].astype(str), strict=True))  # fmt: skip
    trained = pd.Series([key in converged for key in keys], index=table.index)
    table.loc[(table["verdict"] == UNDER_TRAINED) & trained, "verdict"] = HURTS_CONVERGED
    return table


def head_verdicts(table: pd.DataFrame) -> dict[Key, str]:
    """(dataset, backbone, variant) -> its verdict over all subdivision steps."""
    if table.empty:
        return {}
    hit = table[table["step"].astype(str) == ALL_STEPS]
    return {(str(d), str(b), str(v)): str(verdict)
            for d, b, v, verdict in hit[["dataset", "backbone", "variant", "verdict"]].itertuples(index=False)}  # fmt: skip


def under_trained(table: pd.DataFrame) -> set[Key]:
    """(dataset, backbone, variant) whose head is under-trained over all subdivision steps."""
    return {key for key, verdict in head_verdicts(table).items() if verdict == UNDER_TRAINED}
