"""The point loss's plateau over runs: one row per head run from the plateau each run.json
records (the criterion itself, per run, is :func:`morse.evaluation.convergence.point_loss_plateau`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["PLATEAU_COLUMNS", "plateau_table"]

PLATEAU_COLUMNS = ["dataset", "backbone", "variant", "seed", "converged", "relative_change",
                   "relative_change_se", "end_loss", "n_rows", "threshold"]


def plateau_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per head run from run.json records (their ``point_loss_plateau``): the columns of
    :data:`PLATEAU_COLUMNS`. Runs without a head (plateau None) are left out."""
    rows = [
        {**{k: record[k] for k in PLATEAU_COLUMNS[:4]},
         **{k: record["point_loss_plateau"].get(k) for k in PLATEAU_COLUMNS[4:]}}
        for record in records if record.get("point_loss_plateau")
    ]
    return pd.DataFrame(rows, columns=PLATEAU_COLUMNS)
