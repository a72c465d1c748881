"""Is the backbone trained? The validation Dice of the coarse output against the iterations
counted from the start of the backbone's training, for its pretrain and baseline runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.plots.style import facet_grid, save, style
from morse.analysis.vocabulary import PRETRAIN, variant_colour

__all__ = ["convergence_figure", "plot_validation_curves"]

_PRETRAIN_COLOUR = "black"  # the baseline is grey in every figure


def convergence_figure(logs: pd.DataFrame) -> Figure:
    """One panel per dataset x backbone; one line per run of ``logs`` (the rows of
    :func:`~morse.analysis.inputs.regime.read_validation_logs`): ``val_dice`` against
    ``total_iteration``, pretrain runs black, the others in their variant's colour, one line style
    per seed. Line gid ``run:<variant>:<seed>``."""
    panels, fig, axes = facet_grid(logs, 1, 6.0, 3.2, extra_width=1.6)
    styles = ["-", "--", ":", "-."]
    for row, (dataset, backbone) in enumerate(panels):
        ax = axes[row, 0]
        sub = logs[(logs["dataset"] == dataset) & (logs["backbone"] == backbone)]
        for (variant, seed), run in sub.groupby(["variant", "seed"], sort=True):
            run = run.sort_values("total_iteration")
            colour = _PRETRAIN_COLOUR if variant == PRETRAIN else variant_colour(str(variant))
            ax.plot(run["total_iteration"], run["val_dice"], color=colour, linewidth=1.3,
                    linestyle=styles[int(seed) % len(styles)], marker="o", markersize=2.5,
                    label=f"{variant}, seed {seed}", gid=f"run:{variant}:{seed}")  # fmt: skip
        ax.set_title(f"{dataset} / {backbone}: validation Dice (coarse)")
        ax.set_xlabel("iteration from the start of the backbone's training")
        ax.set_ylabel("validation Dice")
        ax.legend(fontsize="small", frameon=False, loc="lower right")
    return fig


def plot_validation_curves(logs: pd.DataFrame, out_stem: Path) -> list[Path]:
    """:func:`convergence_figure` as PNG and SVG; nothing without validation logs."""
    if logs.empty:
        return []
    with style():
        return save(convergence_figure(logs), out_stem)
