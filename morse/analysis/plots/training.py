"""Training curves: loss, and the head's point loss / accuracy beside the coarse logits' at the
same points, against iteration, mean over seeds +- 1 SD."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from morse.analysis.plots.style import facet_grid, save, style
from morse.analysis.vocabulary import variant_colour, variant_order

__all__ = ["PANELS", "plot_training_curves", "training_figure"]

#: Panel title -> (logged column, line style, legend suffix): the head's value solid, the coarse
#: logits' value at the same sampled points dashed.
PANELS: dict[str, list[tuple[str, str, str]]] = {
    "loss": [("loss", "-", "")],
    "point loss": [("point_loss", "-", " head"), ("coarse_point_loss", "--", " coarse at the points")],
    "point accuracy": [("point_accuracy", "-", " head"), ("coarse_point_accuracy", "--", " coarse at the points")],
}


def _draw(ax: Axes, here: pd.DataFrame, variant: str, linestyle: str, suffix: str) -> None:
    stats = here[here["variant"] == variant].sort_values("iteration")
    if stats.empty:
        return
    colour = variant_colour(variant)
    n_seeds = int(stats["n_seeds"].iloc[0])
    ax.plot(stats["iteration"], stats["mean"], color=colour, linewidth=1.2, linestyle=linestyle,
            label=f"{variant}{suffix} (n={n_seeds})", gid=f"variant:{variant}")  # fmt: skip
    if n_seeds > 1:
        sd = stats["std"].fillna(0.0)
        ax.fill_between(stats["iteration"], stats["mean"] - sd, stats["mean"] + sd,
                        color=colour, alpha=0.2, linewidth=0)  # fmt: skip


def training_figure(curves: pd.DataFrame) -> Figure:
    """One row per dataset x backbone, one column per panel of :data:`PANELS` that has data;
    ``curves`` is :func:`~morse.analysis.summaries.cases.training_curves`. Line gid
    ``variant:<variant>``."""
    logged = set(curves["column"])
    columns = [title for title, lines in PANELS.items() if logged & {c for c, _, _ in lines}]
    panels, fig, axes = facet_grid(curves, len(columns), 5.0, 3.4, extra_width=1.5)
    if not panels:
        return fig
    for row, (dataset, backbone) in enumerate(panels):
        sub = curves[(curves["dataset"] == dataset) & (curves["backbone"] == backbone)]
        for col, title in enumerate(columns):
            ax = axes[row, col]
            for column, linestyle, suffix in PANELS[title]:
                here = sub[sub["column"] == column]
                for variant in variant_order(sub["variant"]):
                    _draw(ax, here, variant, linestyle, suffix)
            ax.set_title(f"{dataset} / {backbone}: {title}")
            ax.set_xlabel("iteration")
            ax.set_ylabel(title)
            if ax.lines:
                ax.legend(fontsize="small", frameon=False)
    return fig


def plot_training_curves(curves: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Training loss vs iteration per variant: mean over seeds with a +-1 SD band."""
    with style():
        return save(training_figure(curves), out_stem)
