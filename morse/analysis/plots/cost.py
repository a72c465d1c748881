"""Cost against accuracy: the headline metrics against training seconds per iteration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.plots.style import facets, grid, no_data, output_colour, save, style
from morse.analysis.vocabulary import HEADLINE, PRIMARY, metric_label

__all__ = ["cost_figure", "plot_cost_accuracy"]


def cost_figure(summary: pd.DataFrame) -> Figure:
    """:func:`~morse.analysis.summaries.cost.cost_accuracy_summary`; columns: dataset x
    backbone; rows: the headline metrics. Marker gid
    ``point:<variant>:<output>`` (x = s/iteration, y = the mean), Dice front gid ``pareto``."""
    panels = facets(summary)
    fig, axes = grid(len(HEADLINE), len(panels), 6.4, 4.0)
    for col, (dataset, backbone) in enumerate(panels):
        sub = summary[(summary["dataset"] == dataset) & (summary["backbone"] == backbone)]
        for row, metric in enumerate(HEADLINE):
            ax = axes[row, col]
            label = metric_label(metric)
            ax.set_title(f"{dataset} / {backbone}: {label}", fontsize="small")
            points = sub.dropna(subset=["s_per_iteration", metric])
            if points.empty:
                no_data(ax)
                continue
            for r in points.itertuples(index=False):
                x, y = float(r.s_per_iteration), float(getattr(r, metric))
                ax.plot([x], [y], linestyle="", marker="o" if r.output == "coarse" else "D",
                        markersize=7, color=output_colour(r.variant, r.output),
                        markeredgecolor="black" if r.on_front else "white",
                        gid=f"point:{r.variant}:{r.output}")  # fmt: skip
                ax.annotate(f"{r.label} · {r.output}", (x, y), xytext=(5, 4),
                            textcoords="offset points", fontsize="x-small")  # fmt: skip
            if metric == PRIMARY:
                front = points[points["on_front"]].sort_values("s_per_iteration")
                if len(front):
                    fx = front["s_per_iteration"].to_numpy(dtype=float)
                    fy = front[PRIMARY].to_numpy(dtype=float)
                    right = float(points["s_per_iteration"].max())
                    if right > fx[-1]:
                        fx, fy = np.append(fx, right), np.append(fy, fy[-1])
                    ax.step(fx, fy, where="post", color="0.3", linestyle="--", linewidth=1.0,
                            label="Pareto front (best Dice at most this cost)",
                            gid="pareto")  # fmt: skip
                    ax.legend(fontsize="x-small", frameon=False, loc="lower right")
            ax.set_xscale("log")
            ax.set_xlabel("training seconds per iteration (median over seeds, log)")
            ax.set_ylabel(label + " (mean of case means)")
            ax.margins(x=0.25, y=0.15)
    if not panels:
        no_data(axes[0, 0])
    return fig


def plot_cost_accuracy(summary: pd.DataFrame, out_stem: Path) -> list[Path]:
    """One marker per variant x output (the baseline's coarse output only; circle coarse,
    diamond refined) at its training cost, labelled with the head settings that differ; the Dice
    Pareto front a dashed step line with black-edged points. Returns ``[]`` (nothing written)
    when ``summary`` is empty (no dataset x backbone with two timed variants)."""
    if summary.empty:
        return []
    with style():
        return save(cost_figure(summary), out_stem)
