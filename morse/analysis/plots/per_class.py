"""Per-class scores: box + strip plot per class by variant and scored output."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from morse.analysis.plots.style import (
    arms,
    facet_grid,
    no_data,
    output_colour,
    save,
    seeded,
    style,
)
from morse.analysis.vocabulary import HEADLINE, metric_label

__all__ = ["per_class_figure", "plot_per_class_scores"]

#: Widest panel (inches) still drawn two a row.
MAX_PAIRED_WIDTH = 9.0


def per_class_figure(points: pd.DataFrame) -> Figure:
    """One block of panels per dataset x backbone, one panel per headline metric, wrapped at two
    panels a row (one when the classes make a panel wide), so more metrics make the figure taller,
    not wider; ``points`` is :func:`~morse.analysis.summaries.cases.per_class_points` (one point
    per class and case)."""
    metric_names = [m for m in HEADLINE if m in set(points["metric"])]
    first = points[points["metric"] == metric_names[0]] if metric_names else points
    n_classes = max(1, first["class"].nunique()) if len(first) else 1
    n_groups = max(1, len(arms(first))) if len(first) else 1
    width = max(6.0, min(30.0, 0.32 * n_classes * n_groups + 2.0))
    per_row = 1 if width > MAX_PAIRED_WIDTH or len(metric_names) < 2 else 2
    metric_rows = max(1, math.ceil(len(metric_names) / per_row))
    panels, fig, axes = facet_grid(first, per_row if metric_names else 0, width, 3.6,
                                   rows_per_facet=metric_rows)
    if not panels:
        return fig
    if len(metric_names) % per_row:  # at most one free slot (two panels a row) per block
        for row in range(len(panels)):
            axes[(row + 1) * metric_rows - 1, per_row - 1].set_visible(False)
    data = points.assign(**{"class": points["class"].astype(str),
                            "group": points["variant"].astype(str) + " · " + points["output"].astype(str)})  # fmt: skip
    for row, (dataset, backbone) in enumerate(panels):
        sub = data[(data["dataset"] == dataset) & (data["backbone"] == backbone)]
        pairs = sub[["class", "class_index"]].drop_duplicates()
        pairs = pairs.assign(_region=pairs["class_index"] < 0)  # regions last
        classes = pairs.sort_values(["_region", "class_index", "class"])["class"].drop_duplicates().tolist()
        groups = arms(sub)
        hue_order = [f"{v} · {o}" for v, o in groups]
        palette = {f"{v} · {o}": output_colour(v, o) for v, o in groups}
        for i, metric in enumerate(metric_names):
            ax = axes[row * metric_rows + i // per_row, i % per_row]
            values = sub[sub["metric"] == metric].dropna(subset=["value"])
            if values.empty:
                no_data(ax)
                continue
            common = dict(data=values, x="class", y="value", hue="group", order=classes,
                          hue_order=hue_order, palette=palette, ax=ax)  # fmt: skip
            sns.boxplot(**common, showfliers=False, linewidth=0.8, legend=False)
            sns.stripplot(**common, dodge=True, size=2.5, jitter=0.15, linewidth=0.3,
                          edgecolor="white", alpha=0.8, legend=False)  # fmt: skip
            ax.set_title(f"{dataset} / {backbone}: {metric_label(metric)}")
            ax.set_xlabel("")
            ax.set_ylabel(metric_label(metric))
            ax.tick_params(axis="x", labelrotation=30)
        handles = [Line2D([], [], marker="s", linestyle="", markersize=8, color=palette[g], label=g)
                   for g in hue_order]  # fmt: skip
        axes[row * metric_rows, per_row - 1].legend(handles=handles, title="variant · output", loc="upper left",
                             bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")  # fmt: skip
    return fig


def plot_per_class_scores(points: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Box + strip plot of the headline metrics per class by variant/output, one point per
    test case (mean over seeds); non-finite values (empty masks) are left out."""
    with style(), seeded(0):
        return save(per_class_figure(points), out_stem)
