"""Errors against distance to the reference boundary, per variant and scored output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.plots.style import arms, facet_grid, output_colour, save, style

__all__ = ["boundary_figure", "plot_boundary_errors"]


def boundary_figure(rates: pd.DataFrame) -> Figure:
    """:func:`~morse.analysis.summaries.boundary_rates.boundary_error_rates`, one panel per
    dataset x backbone; line gid ``<variant>:<output>``, band gid
    ``band:<variant>:<output>``."""
    panels, fig, axes = facet_grid(rates, 1, 7.5, 3.6)
    if not panels:
        return fig
    for row, (dataset, backbone) in enumerate(panels):
        ax = axes[row, 0]
        sub = rates[(rates["dataset"] == dataset) & (rates["backbone"] == backbone)]
        for variant, output in arms(sub):
            line = sub[(sub["variant"] == variant) & (sub["output"] == output)]
            line = line.sort_values("distance_mm")
            colour = output_colour(variant, output)
            n_seeds = int(line["n_seeds"].max())
            ax.plot(line["distance_mm"], line["error_rate"], color=colour, linewidth=1.4,
                    linestyle="-" if output == "coarse" else "--", marker=".",
                    label=f"{variant} · {output} (n={n_seeds} seeds)",
                    gid=f"{variant}:{output}")  # fmt: skip
            if line[["low", "high"]].notna().all(axis=None):
                ax.fill_between(line["distance_mm"], line["low"], line["high"], color=colour,
                                alpha=0.15, linewidth=0, gid=f"band:{variant}:{output}")  # fmt: skip
        ax.set_title(f"{dataset} / {backbone}", fontsize="small")
        ax.set_xlabel("distance to the reference boundary (mm, bin centre)")
        ax.set_ylabel("error rate (wrong voxels / voxels)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.legend(fontsize="x-small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_boundary_errors(rates: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Error rate against distance to the true boundary: one line per variant x output (refined
    dashed, coarse solid) pooled over cases and seeds, a band over the per-seed rates."""
    with style():
        return save(boundary_figure(rates), out_stem)
