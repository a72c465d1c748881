"""Ablations: one panel per ablated knob, the mean over cases against the knob's value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from morse.analysis.ablation_trends import trend_rows
from morse.analysis.plots.style import facets, grid, no_data, output_colour, save, style
from morse.analysis.summaries.ablation import value_key, value_label
from morse.analysis.vocabulary import HEADLINE, digits, metric_label, variant_colour

__all__ = ["ablation_figure", "plot_ablations"]

#: Knobs drawn on a log2 axis (point budgets and widths, which ablations double or halve).
_LOG2_KNOBS = {"num_points", "subdivision_points", "expert_width", "fourier_features"}


def _ablation_points(sub: pd.DataFrame) -> pd.DataFrame:
    """Points of one panel, one per value and output; the base point is dropped where an
    ablation variant has the same value (the same configuration)."""
    points = sub[sub["role"] != "reference"].copy()
    points["_key"] = points["value"].map(value_key)
    points["_ablation"] = points["role"] == "ablation"
    points = points.sort_values(["output", "_key", "_ablation"], kind="stable")
    points = points.drop_duplicates(subset=["output", "_key"], keep="last")
    return points.sort_values(["_key"], kind="stable")


def _trend_text(trends: pd.DataFrame | None, key: tuple[str, ...], metric: str) -> str | None:
    """One line of ``ablation_trends.csv`` for a panel's output: slope per step, CI, decision."""
    if trends is None or trends.empty:
        return None
    dataset, backbone, base, knob, output = key
    hit = trend_rows(trends, dataset=dataset, backbone=backbone, base=base, knob=knob, output=output, metric=metric)
    if hit.empty:
        return None
    row, k = hit.iloc[0], digits(metric) + 1
    return (f"{output}: {float(row['slope']):+.{k}f}/step [{float(row['ci_low']):+.{k}f}, "
            f"{float(row['ci_high']):+.{k}f}], p_holm {float(row['p_holm']):.2g}: {row['decision']}")  # fmt: skip


def ablation_figure(summary: pd.DataFrame, trends: pd.DataFrame | None = None) -> Figure:
    """Rows: dataset x backbone x metric; columns: (base, knob). One line per output; ``summary``
    is :func:`~morse.analysis.summaries.ablation.ablation_summary`; ``trends`` (``ablation_trends.csv``)
    annotates each line with its slope per step, CI, Holm p-value and decision.

    Line gid ``ablation:<knob>:<output>``, band gid ``band:<knob>:<output>``, trend text gid
    ``trend:<knob>:<output>``, baseline line gid ``baseline``. Categorical knobs (bool, text) are
    drawn at positions 0..n-1.
    """
    facet_pairs = facets(summary)
    metric_names = [m for m in HEADLINE if m in set(summary["metric"])]
    panels = sorted(
        {(b, k) for b, k in summary[summary["role"] != "reference"][["base", "knob"]].itertuples(
            index=False)}
    )  # fmt: skip
    several_bases = len({b for b, _ in panels}) > 1
    n_rows = max(1, len(facet_pairs) * len(metric_names))
    fig, axes = grid(n_rows, len(panels), 4.2, 3.2, extra_width=1.8)
    for f, (dataset, backbone) in enumerate(facet_pairs):
        for m, metric in enumerate(metric_names):
            row = f * len(metric_names) + m
            rows = summary[
                (summary["dataset"] == dataset)
                & (summary["backbone"] == backbone)
                & (summary["metric"] == metric)
            ]
            reference = rows[rows["role"] == "reference"]
            for col, (base, knob) in enumerate(panels):
                ax = axes[row, col]
                label = metric_label(metric)
                ax.set_title(
                    f"{dataset} / {backbone}: {knob}" + (f" ({base})" if several_bases else ""),
                    fontsize="small",
                )
                sub = _ablation_points(rows[(rows["base"] == base) & (rows["knob"] == knob)])
                if sub.empty:
                    no_data(ax, "no ablation runs")
                    continue
                values = sorted({value_key(v): v for v in sub["value"]}.items())
                numeric = all(k[0] == 1 for k, _ in values)
                positions = {k: (float(v) if numeric else float(i)) for i, (k, v) in
                             enumerate(values)}  # fmt: skip
                for n_line, (output, line) in enumerate(sub.groupby("output", sort=False)):
                    line = line.sort_values("_key", kind="stable")
                    x = np.array([positions[k] for k in line["_key"]])
                    colour = output_colour(base, str(output))
                    ax.plot(x, line["mean"].to_numpy(dtype=float), marker="o", markersize=4,
                            color=colour, linewidth=1.4, label=str(output),
                            gid=f"ablation:{knob}:{output}")  # fmt: skip
                    band = line[["ci_low", "ci_high"]].to_numpy(dtype=float)
                    if np.isfinite(band).any():
                        ax.fill_between(x, band[:, 0], band[:, 1], color=colour, alpha=0.18,
                                        linewidth=0, gid=f"band:{knob}:{output}")  # fmt: skip
                    text = _trend_text(trends, (dataset, backbone, base, knob, str(output)), metric)
                    if text:
                        ax.text(0.02, 0.97 - 0.09 * n_line, text, transform=ax.transAxes, fontsize=6, va="top",
                                color=colour, gid=f"trend:{knob}:{output}", zorder=5,
                                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1})  # fmt: skip
                    base_rows = line[line["role"] == "base"]
                    if len(base_rows):
                        bx = np.array([positions[k] for k in base_rows["_key"]])
                        ax.plot(bx, base_rows["mean"].to_numpy(dtype=float), marker="*",
                                markersize=11, linestyle="", color=colour,
                                gid=f"base:{knob}:{output}")  # fmt: skip
                if len(reference):
                    ax.axhline(float(reference["mean"].iloc[0]), color=variant_colour("baseline"),
                               linestyle="--", linewidth=1.2, label="baseline (coarse)",
                               gid="baseline")  # fmt: skip
                ticks = [positions[k] for k, _ in values]
                if numeric and knob in _LOG2_KNOBS and all(float(v) > 0 for _, v in values):
                    ax.set_xscale("log", base=2)
                if not numeric:
                    ax.set_xlim(-0.5, len(values) - 0.5)
                ax.set_xticks(ticks, [value_label(v) for _, v in values])
                ax.minorticks_off()
                ax.set_xlabel(knob + (" (log2)" if ax.get_xscale() == "log" else ""))
                ax.set_ylabel(label + " (case mean)")
                ax.legend(fontsize="x-small", frameon=False, loc="lower right" if trends is not None else "best")
    if not facet_pairs or not panels:
        no_data(axes[0, 0])
    else:
        fig.suptitle(
            "Ablations: mean over cases with 95% bootstrap CI over cases; star = the base "
            "variant at its own value; text: trend slope per step of the knob [95% CI]",
            fontsize="small",
        )
    return fig


def plot_ablations(summary: pd.DataFrame, out_stem: Path, trends: pd.DataFrame | None = None) -> list[Path]:
    """One panel per ablated knob: the headline metrics (rows) against the knob's value, one line
    per output with a 95% bootstrap band, the base variant starred at its own value, the
    baseline's coarse mean dashed. Point budgets use a log2 axis, booleans and text a
    categorical one; each line's trend over the knob (``trends``) written in its panel. Returns
    ``[]`` (nothing written) when there is no ablation point."""
    if summary.empty or not (summary["role"] != "reference").any():
        return []
    with style():
        return save(ablation_figure(summary, trends), out_stem)
