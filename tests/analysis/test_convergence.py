"""The plateau table over runs, from the plateau each run record holds."""

from __future__ import annotations

import numpy as np

from morse.analysis.convergence import plateau_table
from morse.evaluation.convergence import point_loss_plateau

T = 1000
ITERATIONS = np.arange(10, T + 1, 10)


def test_plateau_table_lists_head_runs_only():
    keys = {"dataset": "d", "backbone": "unet", "seed": 0}
    plateau = point_loss_plateau(ITERATIONS, 1.0 - 0.001 * ITERATIONS, T)
    table = plateau_table([{**keys, "variant": "morse", "point_loss_plateau": plateau},
                           {**keys, "variant": "baseline", "point_loss_plateau": None}])
    assert list(table["variant"]) == ["morse"]
    assert not table.loc[0, "converged"] and table.loc[0, "relative_change"] == plateau["relative_change"]
