"""Training curves: loss (and point loss) against iteration, mean over seeds +- 1 SD."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.plots.style import facets, grid, no_data, save, style
from morse.analysis.vocabulary import variant_colour, variant_order

__all__ = ["plot_training_curves", "training_figure"]


def training_figure(curves: pd.DataFrame) -> Figure:
    """One row per dataset x backbone, one column per logged quantity; ``curves`` is
    :func:`~morse.analysis.summaries.cases.training_curves`. Line gid ``variant:<variant>``."""
    columns = [c for c in ("loss", "point_loss") if c in set(curves["column"])]
    panels = facets(curves)
    fig, axes = grid(len(panels), len(columns), 5.0, 3.4, extra_width=1.5)
    if not panels or not columns:
        no_data(axes[0, 0])
        return fig
    for row, (dataset, backbone) in enumerate(panels):
        sub = curves[(curves["dataset"] == dataset) & (curves["backbone"] == backbone)]
        for col, column in enumerate(columns):
            ax = axes[row, col]
            here = sub[sub["column"] == column]
            for variant in variant_order(sub["variant"]):
                stats = here[here["variant"] == variant].sort_values("iteration")
                if stats.empty:
                    continue
                colour = variant_colour(variant)
                n_seeds = int(stats["n_seeds"].iloc[0])
                ax.plot(stats["iteration"], stats["mean"], color=colour, linewidth=1.2,
                        label=f"{variant} (n={n_seeds})", gid=f"variant:{variant}")  # fmt: skip
                if n_seeds > 1:
                    sd = stats["std"].fillna(0.0)
                    ax.fill_between(stats["iteration"], stats["mean"] - sd, stats["mean"] + sd,
                                    color=colour, alpha=0.2, linewidth=0)  # fmt: skip
            ax.set_title(f"{dataset} / {backbone}: {column.replace('_', ' ')}")
            ax.set_xlabel("iteration")
            ax.set_ylabel(column.replace("_", " "))
            if ax.lines:
                ax.legend(fontsize="small", frameon=False)
    return fig


def plot_training_curves(curves: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Training loss vs iteration per variant: mean over seeds with a +-1 SD band."""
    with style():
        return save(training_figure(curves), out_stem)
