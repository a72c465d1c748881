"""Paired cases: a slope plot from the reference to a variant, one line per shared test case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.plots.style import facet_grid, no_data, save, style
from morse.analysis.vocabulary import (
    HEADLINE,
    higher_is_better,
    metric_label,
    output_rank,
    variant_colour,
)

__all__ = ["paired_cases_figure", "plot_paired_cases"]


def paired_cases_figure(case_means: pd.DataFrame, variant: str = "morse",
                        reference: str = "baseline") -> Figure:  # fmt: skip
    """Slope plot of :func:`~morse.analysis.summaries.cases.case_means` (the one per-case value:
    foreground classes, never regions, then seeds): x positions reference (coarse), variant
    (coarse), variant (refined) where available. Each case line has gid ``case:<case>``; the
    bold mean line has gid ``mean``."""
    metric_names = [m for m in HEADLINE if m in set(case_means["metric"])]
    panels, fig, axes = facet_grid(case_means, len(metric_names), 4.2, 3.8, extra_width=0.5)
    if not panels:
        return fig
    for row, (dataset, backbone) in enumerate(panels):
        for col, metric in enumerate(metric_names):
            ax = axes[row, col]
            means = case_means[(case_means["dataset"] == dataset) & (case_means["backbone"] == backbone)
                               & (case_means["metric"] == metric)]  # fmt: skip
            var = means[means["variant"] == variant]
            columns = [(reference, "coarse")] + [(variant, str(o)) for o in
                                                 sorted(var["output"].unique(), key=output_rank)]  # fmt: skip
            table = pd.concat(
                [means[(means["variant"] == v) & (means["output"] == o)].set_index("case")["value"]
                 .rename(f"{v}\n{o}") for v, o in columns], axis=1)  # fmt: skip
            ref = means[(means["variant"] == reference) & (means["output"] == "coarse")]
            shared = sorted(set(ref["case"].astype(str)) & set(var["case"].astype(str)))
            table.index = table.index.astype(str)
            table = table.loc[shared]
            ax.set_title(f"{dataset} / {backbone}: {metric_label(metric)}")
            if table.empty or len(columns) < 2:
                no_data(ax, f"no cases shared by {reference} and {variant}")
                continue
            _draw(ax, table, metric, variant, reference)
    return fig


def _draw(ax, table: pd.DataFrame, metric: str, variant: str, reference: str) -> None:  # noqa: ANN001
    x = np.arange(table.shape[1])
    higher = higher_is_better(metric)
    for case, values in table.iterrows():
        y = values.to_numpy(dtype=float)
        up = y[-1] > y[0] if np.isfinite(y[[0, -1]]).all() else None
        good = None if up is None else up == higher
        colour = "0.6" if good is None else variant_colour(variant if good else reference)
        ax.plot(x, y, marker="o", markersize=3, linewidth=0.8, alpha=0.7, color=colour,
                gid=f"case:{case}")  # fmt: skip
    ax.plot(x, table.mean(axis=0).to_numpy(dtype=float), marker="D", markersize=6, linewidth=2.5,
            color="black", gid="mean", label="mean over cases")  # fmt: skip
    ax.set_xticks(x, list(table.columns))
    ax.set_xlim(-0.3, table.shape[1] - 0.7)
    ax.set_ylabel(metric_label(metric) + " (case mean)")
    # below the ticks, on two lines: a note inside a narrow panel ran into its neighbour
    ax.set_xlabel(f"n = {len(table)} cases; {'higher' if higher else 'lower'} is better\n"
                  f"coloured by {reference}->{variant} direction", fontsize="x-small", color="0.3")  # fmt: skip


def plot_paired_cases(case_means: pd.DataFrame, out_stem: Path, variant: str = "morse",
                      reference: str = "baseline") -> list[Path]:  # fmt: skip
    """Per-case slope plot from ``reference`` to ``variant`` for the headline metrics; the
    variant's coarse and refined outputs are separate x positions."""
    with style():
        return save(paired_cases_figure(case_means, variant=variant, reference=reference), out_stem)
