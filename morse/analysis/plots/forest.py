"""Forest plot of every paired difference in ``comparisons.csv``: one panel per metric, one row per
comparison (dataset / backbone: variant (output) vs reference (output)), the 95% CI as a bar, the
mean difference as a dot, a zero line and the minimum detectable difference as a grey band."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.plots.style import grid, no_data, save, style
from morse.analysis.vocabulary import (
    COMPARED,
    higher_is_better,
    metric_label,
    output_rank,
    variant_rank,
)

__all__ = ["BETTER_COLOURS", "forest_figure", "forest_rows", "plot_forest"]

#: Colour of a row by which side is better after Holm (comparisons.csv ``better``).
BETTER_COLOURS = {"variant": "#1a7f37", "reference": "#cf222e", "no difference": "#57606a"}
_COLUMNS = 3


def forest_rows(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The plotted rows: exactly the rows of ``comparisons``, with a ``row`` label (the same
    label on every metric's panel) and its position ``y`` (0 = top), in display order."""
    rows = comparisons.copy()
    for col in ("dataset", "backbone", "variant", "output", "reference_variant", "reference_output"):
        rows[col] = rows[col].astype(str)
    rows["row"] = [f"{d} / {b}: {v} ({o}) vs {rv} ({ro})" for d, b, v, o, rv, ro in
                   rows[["dataset", "backbone", "variant", "output", "reference_variant",
                         "reference_output"]].itertuples(index=False)]  # fmt: skip
    keys = rows[["dataset", "backbone", "reference_variant", "reference_output", "variant", "output", "row"]]
    order = sorted(keys.drop_duplicates().itertuples(index=False), key=lambda r: (
        r.dataset, r.backbone, r.reference_variant != "baseline", r.reference_variant != r.variant,
        variant_rank(r.reference_variant), variant_rank(r.variant), output_rank(r.output)))  # fmt: skip
    position = {r.row: i for i, r in enumerate(order)}
    rows["y"] = rows["row"].map(position)
    return rows.sort_values(["y", "metric"], kind="mergesort").reset_index(drop=True)


def _panel(ax, rows: pd.DataFrame, metric: str, n_rows: int) -> None:  # noqa: ANN001
    y = rows["y"].to_numpy(dtype=float)
    mdd = rows["min_detectable_difference"].to_numpy(dtype=float) if "min_detectable_difference" in rows else np.full(len(rows), np.nan)
    for yi, band in zip(y, mdd, strict=True):
        if math.isfinite(band):
            ax.fill_betweenx([yi - 0.38, yi + 0.38], -band, band, color="0.85", linewidth=0, zorder=0)
    ax.axvline(0, color="black", linewidth=0.8, zorder=1)
    for better, colour in BETTER_COLOURS.items():
        hit = rows[rows["better"].astype(str) == better] if "better" in rows else rows.iloc[:0]
        if hit.empty:
            continue
        mean = hit["mean_difference"].to_numpy(dtype=float)
        low = mean - hit["ci_low"].to_numpy(dtype=float)
        high = hit["ci_high"].to_numpy(dtype=float) - mean
        ax.errorbar(mean, hit["y"].to_numpy(dtype=float), xerr=np.vstack([low, high]), fmt="o", color=colour,
                    markersize=4, elinewidth=1.6, capsize=2, zorder=2, gid=f"ci:{better}")  # fmt: skip
    ax.set_ylim(n_rows - 0.5, -0.5)
    arrow = "variant better →" if higher_is_better(metric) else "← variant better"
    ax.set_title(f"{metric_label(metric)}\n{arrow}", fontsize="small")
    ax.set_xlabel("difference variant − reference [95% CI]", fontsize="x-small")


def forest_figure(comparisons: pd.DataFrame) -> tuple[Figure, pd.DataFrame]:
    """The forest plot and the rows it drew (:func:`forest_rows`)."""
    rows = forest_rows(comparisons)
    metrics = [m for m in COMPARED if m in set(rows["metric"].astype(str))]
    metrics += sorted(set(rows["metric"].astype(str)) - set(metrics))
    labels = rows.drop_duplicates("y").sort_values("y")["row"].tolist()
    cols = min(_COLUMNS, max(1, len(metrics)))
    panel_rows = max(1, math.ceil(len(metrics) / cols))
    fig, axes = grid(panel_rows, cols, 3.0, 1.1 + 0.24 * max(len(labels), 1), extra_width=3.2)
    if not metrics:
        no_data(axes[0, 0], "no comparisons")
        return fig, rows
    for i, ax in enumerate(axes.flat):
        if i >= len(metrics):
            ax.set_visible(False)
            continue
        _panel(ax, rows[rows["metric"].astype(str) == metrics[i]], metrics[i], len(labels))
        ax.set_yticks(range(len(labels)), labels if i % cols == 0 else [], fontsize="x-small")
        ax.tick_params(axis="x", labelsize="x-small")
    return fig, rows


def plot_forest(comparisons: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Write the forest plot (PNG and SVG) of ``comparisons`` and return the paths."""
    with style():
        fig, _ = forest_figure(comparisons)
        return save(fig, out_stem)
