"""The regime's figures: the validation curves and the budget curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from morse.analysis.plots.budget import budget_figure
from morse.analysis.plots.convergence import convergence_figure


def test_budget_figure_one_panel_per_metric_one_line_per_arm_with_band_and_zero() -> None:
    rows = pd.DataFrame([
        {"dataset": "d", "backbone": "unet", "variant": "morse", "output": o, "metric": m, "iteration": i,
         "total_iteration": 100 + i, "difference": d * i, "ci_low": d * i - 0.01, "ci_high": d * i + 0.01,
         "n_cases": 8}
        for m in ("dice", "hd95_mm") for o, d in (("coarse", -0.001), ("refined", 0.001)) for i in (10, 20, 30)
    ])  # fmt: skip
    trends = rows.drop_duplicates(["output", "metric"]).assign(trend=["widening", "closing", "stable", "stable"])
    fig = budget_figure(rows, trends)
    axes = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in axes] == ["d / unet: Dice", "d / unet: HD95 (mm)"]
    line = next(x for x in axes[0].lines if x.get_gid() == "difference:morse:coarse")
    assert list(line.get_xdata()) == [110, 120, 130] and np.allclose(line.get_ydata(), [-0.01, -0.02, -0.03])
    assert any(x.get_gid() == "zero" and list(x.get_ydata()) == [0, 0] for x in axes[0].lines)
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["morse (coarse): widening", "morse (refined): closing"]
    assert {c.get_gid() for c in axes[0].collections} == {"band:morse:coarse", "band:morse:refined"}


def test_convergence_figure_one_line_per_run_against_total_iterations() -> None:
    logs = pd.DataFrame({"dataset": "d", "backbone": "unet", "variant": ["pretrain"] * 3 + ["baseline"] * 3,
                         "seed": 0, "iteration": [10, 20, 30] * 2, "stage": ["pretrain"] * 3 + ["joint"] * 3,
                         "total_iteration": [10, 20, 30, 40, 50, 60], "val_dice": [0.5, 0.6, 0.7, 0.75, 0.78, 0.8]})  # fmt: skip
    ax = convergence_figure(logs).axes[0]
    lines = {x.get_gid(): x for x in ax.lines}
    assert set(lines) == {"run:pretrain:0", "run:baseline:0"}
    assert list(lines["run:baseline:0"].get_xdata()) == [40, 50, 60]
    assert list(lines["run:pretrain:0"].get_ydata()) == [0.5, 0.6, 0.7]
