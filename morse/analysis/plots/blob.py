"""Blob plot of the bootstrap rank distribution (after challengeR): per dataset x backbone (a block
of rows) and metric (two panels per row), one column of blobs per entry (variant, output); a blob's area is the share
of resamples at that rank, the cross marks the rank on the full data."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.plots.style import facet_grid, output_colour, save, style
from morse.analysis.vocabulary import HEADLINE, metric_label, output_rank, variant_rank

__all__ = ["blob_figure", "plot_rank_blobs"]

_MAX_AREA = 420.0
_COLUMNS = 2  # metric panels per row


def _entries(frame: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = {(str(v), str(o)) for v, o in frame[["variant", "output"]].itertuples(index=False)}
    return sorted(pairs, key=lambda vo: (variant_rank(vo[0]), output_rank(vo[1])))


def blob_figure(ranks: pd.DataFrame) -> Figure:
    """The blob plot of ``rank_stability.csv`` (headline metrics present in it)."""
    metrics = [m for m in HEADLINE if m in set(ranks["metric"].astype(str))] if not ranks.empty else []
    n_entries = len(_entries(ranks)) if not ranks.empty else 1
    cols = min(_COLUMNS, len(metrics))
    per_facet = math.ceil(len(metrics) / cols) if cols else 1
    panels, fig, axes = facet_grid(ranks, cols, 0.42 * n_entries + 1.3, 0.28 * n_entries + 1.7,
                                   rows_per_facet=per_facet)  # fmt: skip
    for facet, (dataset, backbone) in enumerate(panels):
        here = ranks[(ranks["dataset"].astype(str) == dataset) & (ranks["backbone"].astype(str) == backbone)]
        for i, metric in enumerate(metrics):
            col = i % cols
            ax = axes[facet * per_facet + i // cols, col]
            table = here[here["metric"].astype(str) == metric]
            entries = _entries(table)
            for x, (variant, output) in enumerate(entries):
                entry = table[(table["variant"].astype(str) == variant) & (table["output"].astype(str) == output)]
                shown = entry[entry["share"].astype(float) > 0]
                ax.scatter([x] * len(shown), shown["rank"].astype(float), s=_MAX_AREA * shown["share"].astype(float),
                           color=output_colour(variant, output), alpha=0.8, edgecolors="none",
                           gid=f"blob:{variant}:{output}")  # fmt: skip
                ax.scatter([x], [float(entry["full_rank"].iloc[0])], marker="x", color="black", s=25, zorder=3)
            ax.set_xticks(range(len(entries)), [f"{v}\n{o}" for v, o in entries], rotation=90, fontsize="x-small")
            ax.set_yticks(range(1, len(entries) + 1))
            ax.set_ylim(len(entries) + 0.6, 0.4)
            ax.set_xlim(-0.6, len(entries) - 0.4)
            tau = table["kendall_tau_median"].astype(float).iloc[0] if len(table) else float("nan")
            ax.set_title(f"{dataset} / {backbone}: {metric_label(metric)}\nKendall's τ median {tau:.2f}",
                         fontsize="small")  # fmt: skip
            ax.set_ylabel("rank (1 = best)" if col == 0 else "", fontsize="x-small")
        for i in range(len(metrics), per_facet * cols):  # an odd number of metrics: the last slot is empty
            axes[facet * per_facet + i // cols, i % cols].set_visible(False)
    return fig


def plot_rank_blobs(ranks: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Write the blob plot (PNG and SVG) of ``rank_stability.csv`` and return the paths."""
    with style():
        return save(blob_figure(ranks), out_stem)
