"""The effect across the training budget: each comparison's paired difference (variant -
baseline coarse) with its 95 % CI at every snapshot, one panel per metric."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from morse.analysis.plots.style import arms, facets, grid, output_colour, save, style
from morse.analysis.vocabulary import metric_label

__all__ = ["COLUMNS", "budget_figure", "plot_budget_curves"]

COLUMNS = 2  # panels per row: four metrics make a 2 x 2 block per dataset x backbone


def budget_figure(rows: pd.DataFrame, trends: pd.DataFrame) -> Figure:
    """Per dataset x backbone, one panel per metric of ``rows`` (``budget_comparisons.csv``) in their
    order there, :data:`COLUMNS` panels to a row. One line per variant and output with its CI band, against the iteration
    counted from the start of the backbone's training; a zero line; the legend names each line's
    trend (``budget_trends.csv``). Line gid ``difference:<variant>:<output>``, band gid
    ``band:<variant>:<output>``."""
    pairs = facets(rows)
    metrics = list(dict.fromkeys(rows["metric"].astype(str)))
    cols = min(COLUMNS, len(metrics))
    per_pair = -(-len(metrics) // max(cols, 1))
    fig, axes = grid(len(pairs) * per_pair, cols, 5.0, 3.2, extra_width=0.5)
    trend = {tuple(map(str, k)): str(t) for *k, t in
             trends[["dataset", "backbone", "variant", "output", "metric", "trend"]].itertuples(index=False)}  # fmt: skip
    for r, (dataset, backbone) in enumerate(pairs):
        for m, metric in enumerate(metrics):
            ax = axes[r * per_pair + m // cols, m % cols]
            sub = rows[(rows["dataset"] == dataset) & (rows["backbone"] == backbone) & (rows["metric"] == metric)]
            ax.axhline(0.0, color="0.2", linewidth=0.9, gid="zero")
            for variant, output in arms(sub):
                line = sub[(sub["variant"] == variant) & (sub["output"] == output)].sort_values("total_iteration")
                colour = output_colour(variant, output)
                label = f"{variant} ({output}): {trend.get((dataset, backbone, variant, output, metric), 'n/a')}"
                ax.fill_between(line["total_iteration"], line["ci_low"], line["ci_high"], color=colour, alpha=0.18,
                                linewidth=0, gid=f"band:{variant}:{output}")  # fmt: skip
                ax.plot(line["total_iteration"], line["difference"], color=colour, marker="o", markersize=3,
                        linewidth=1.3, linestyle="-" if output == "coarse" else "--", label=label,
                        gid=f"difference:{variant}:{output}")  # fmt: skip
            ax.set_title(f"{dataset} / {backbone}: {metric_label(metric)}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("iteration from the start of the backbone's training")
            ax.set_ylabel("variant − baseline (coarse)")
            ax.legend(fontsize="x-small", frameon=False)
    return fig


def plot_budget_curves(rows: pd.DataFrame, trends: pd.DataFrame, out_stem: Path) -> list[Path]:
    """:func:`budget_figure` as PNG and SVG; nothing without budget rows (never a flat line)."""
    if rows.empty:
        return []
    with style():
        return save(budget_figure(rows, trends), out_stem)
