"""The report's figures: each summary drawn once, written to the figure folder and embedded.

Every entry is ``{"title", "caption", "src" (base64 PNG), "files"}``; the captions say what the
numbers are and where they come from.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from morse.analysis.inputs.runs import QualitativeSamples, Run
from morse.analysis.plots.ablation import plot_ablations
from morse.analysis.plots.blob import plot_rank_blobs
from morse.analysis.plots.boundary import plot_boundary_errors
from morse.analysis.plots.cost import plot_cost_accuracy
from morse.analysis.plots.error_view import plot_error_view
from morse.analysis.plots.forest import plot_forest
from morse.analysis.plots.paired import plot_paired_cases
from morse.analysis.plots.per_class import plot_per_class_scores
from morse.analysis.plots.qualitative import plot_qualitative
from morse.analysis.plots.training import plot_training_curves
from morse.analysis.report.format import slug
from morse.analysis.report.provenance import label_names
from morse.analysis.summaries.boundary_rates import boundary_error_rates
from morse.analysis.summaries.cases import case_means, per_class_points, training_curves
from morse.analysis.vocabulary import HEADLINE, metric_label, variant_order

__all__ = ["Entry", "ablation_entry", "boundary_entry", "cost_entry", "entry", "forest_entry", "main_figures",
           "rank_entry", "training_entry"]

Entry = dict[str, Any]


def entry(title: str, caption: str, paths: list[Path]) -> Entry:
    """A figure as the template shows it: title, caption, the PNG embedded, the file names."""
    png = next(p for p in paths if p.suffix == ".png")
    src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
    return {"title": title, "caption": caption, "src": src, "files": [p.name for p in paths]}


def _metrics_text() -> str:
    return " and ".join(metric_label(m) for m in HEADLINE)


def main_figures(metrics: pd.DataFrame, samples: QualitativeSamples, figures_dir: Path) -> list[Entry]:
    """Per-class scores, paired cases (baseline -> morse, or the first other variant), one
    qualitative figure per dataset x backbone of ``samples`` (lowest seed of each variant, see
    :func:`~morse.analysis.inputs.runs.read_qualitative_samples`); the training curves are
    :func:`training_entry`."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    out = [entry(
        "Per-class scores",
        f"{_metrics_text()} per class, one point per test case (mean over seeds); boxes by "
        "variant and scored output (darker shade = refined output). Infinite HD95 (empty "
        "masks) are left out and counted in the empty-mask table.",
        plot_per_class_scores(per_class_points(metrics, HEADLINE), figures_dir / "per_class_scores"),
    )]  # fmt: skip
    variants = variant_order(metrics["variant"].astype(str))
    if "baseline" in variants and len(variants) > 1:
        target = "morse" if "morse" in variants else next(v for v in variants if v != "baseline")
        out.append(entry(
            f"Paired cases: baseline → {target}",
            f"One line per test case shared by baseline (coarse) and {target} (coarse and "
            "refined), case means over the label classes (regions such as BraTS WT/TC/ET are "
            "not mixed in) and seeds; black: mean over cases.",
            plot_paired_cases(case_means(metrics, HEADLINE), figures_dir / f"paired_cases_{target}",
                              variant=target, reference="baseline"),
        ))  # fmt: skip
    for (dataset, backbone), chosen in samples.items():
        names = label_names(metrics[metrics["dataset"] == dataset])
        out.append(entry(
            f"Qualitative: {dataset} / {backbone}",
            "Ground truth solid, prediction dashed (top: coarse, bottom: refined), inference "
            "points in yellow; inset: the window where baseline and morse disagree most "
            "(lowest seed of each variant).",
            plot_qualitative(chosen, figures_dir / f"qualitative_{slug(dataset)}_{slug(backbone)}", names),
        ))  # fmt: skip
        out.append(entry(
            f"Errors: {dataset} / {backbone}",
            "The same slice as an error view (top: coarse, bottom: refined): false positives "
            "(foreground predicted on background) in vermillion, false negatives (foreground "
            "predicted as background) in blue, a wrong foreground class in purple (colour-blind-safe "
            "Okabe-Ito colours; correct pixels show the image), the inference points in yellow; "
            "each title counts the pixels of each kind.",
            plot_error_view(chosen, figures_dir / f"errors_{slug(dataset)}_{slug(backbone)}"),
        ))  # fmt: skip
    return out


def training_entry(runs: Sequence[Run], logs: pd.DataFrame, figures_dir: Path) -> Entry | None:
    """Training curves (section "Is the head trained?") from the runs' training ``logs``
    (:func:`~morse.analysis.inputs.runs.read_training_logs`): loss, the head's point loss and
    point accuracy beside the coarse logits' at the same sampled points."""
    if not runs:
        return None
    figures_dir.mkdir(parents=True, exist_ok=True)
    headless = {(r.dataset, r.backbone, r.variant) for r in runs if r.head.get("head_type") == "none"}
    return entry(
        "Training curves",
        "Training loss, the head's point loss and point accuracy (solid) and the coarse logits' "
        "loss and accuracy at the same sampled points (dashed) vs iteration, mean over seeds ± 1 "
        "SD. A head that learns something the backbone does not know ends below the dashed loss "
        "(above the dashed accuracy).",
        plot_training_curves(training_curves(logs, headless), figures_dir / "training_curves"),
    )  # fmt: skip


def ablation_entry(summary: pd.DataFrame, figures_dir: Path, trends: pd.DataFrame | None = None) -> Entry | None:
    """The ablation figure of :func:`~morse.analysis.summaries.ablation.ablation_summary`, each
    line annotated with its trend (``ablation_trends.csv``) when given."""
    paths = plot_ablations(summary, figures_dir / "ablations", trends)
    if not paths:
        return None
    return entry(
        "Ablations",
        f"One panel per ablated knob (rows: {_metrics_text()}), one line per scored output; "
        "each point is the mean over test cases of the case means (foreground classes, then "
        "seeds, averaged per case) with a 95% bootstrap band over cases; the star marks the base "
        "variant at its own value of the knob; dashed: baseline (coarse) mean. In each panel, per "
        "output: the trend over the knob (mean over cases of each case's least-squares slope on the "
        "knob's rank, per step, with its 95% bootstrap CI, Holm-adjusted sign-flip p-value and "
        "decision: rising / falling / no trend / non-monotone; docs/metrics.md).",
        paths,
    )


def cost_entry(summary: pd.DataFrame, devices: Sequence[str], figures_dir: Path) -> Entry | None:
    """The cost figure of :func:`~morse.analysis.summaries.cost.cost_accuracy_summary`."""
    paths = plot_cost_accuracy(summary, figures_dir / "cost_accuracy")
    if not paths:
        return None
    return entry(
        "Cost against accuracy",
        "Training seconds per iteration (log axis; median over seeds of 1 / it/s) against the "
        f"mean over test cases of the case means, {_metrics_text()} from top to bottom; one "
        "marker per variant and scored output (circle: coarse, diamond: refined). Dashed step "
        "line: the Pareto front, the best Dice for at most that cost (black-edged markers). The "
        "timings come from the training runs themselves (the it/s each run.json records for the "
        "variant's own training stage, not a separate benchmark), so they include data loading "
        f"and logging; measured on: {', '.join(devices) or 'n/a'}.",
        paths,
    )


def boundary_entry(boundary: pd.DataFrame, ablated: set[tuple[str, str, str]],
                   figures_dir: Path) -> Entry | None:  # fmt: skip
    """Errors against distance to the boundary; ablation variants are left out of the figure
    (they stay in boundary.csv) unless every variant is one."""
    if boundary.empty:
        return None
    keys = zip(boundary["dataset"].astype(str), boundary["backbone"].astype(str),
               boundary["variant"].astype(str), strict=True)  # fmt: skip
    is_ablation = pd.Series([k in ablated for k in keys], index=boundary.index)
    note = ""
    if is_ablation.any() and not is_ablation.all():
        boundary = boundary[~is_ablation]
        note = " Ablation variants are left out of this figure (they are in boundary.csv)."
    return entry(
        "Errors against distance to the boundary",
        "Error rate (voxels where prediction ≠ reference / voxels, all foreground classes "
        "pooled) per distance bin to the reference boundary, pooled over cases and seeds; "
        "solid: coarse, dashed: refined; band: range of the per-seed rates. Point refinement "
        "targets the bins near 0 mm." + note,
        plot_boundary_errors(boundary_error_rates(boundary), figures_dir / "boundary_errors"),
    )


def forest_entry(comparisons: pd.DataFrame, figures_dir: Path) -> Entry | None:
    """The forest plot of every row of comparisons.csv."""
    if comparisons.empty:
        return None
    return entry(
        "Forest plot of the paired differences",
        "Every row of comparisons.csv: one panel per metric, one row per comparison (variant "
        "(output) vs reference (output)); dot: mean paired difference over test cases (seeds "
        "averaged per case), bar: its 95% bootstrap CI; green: the variant is better, red: the "
        "reference is better (Holm-adjusted p < 0.05 with the metric's direction), grey: no "
        "difference. Grey band: ± the minimum difference the row could detect with 80% power; a CI "
        "inside the band is no evidence of equality.",
        plot_forest(comparisons, figures_dir / "forest"),
    )


def rank_entry(ranks: pd.DataFrame | None, figures_dir: Path) -> Entry | None:
    """The blob plot of the bootstrap rank distributions (rank_stability.csv)."""
    if ranks is None or ranks.empty:
        return None
    return entry(
        "Rank stability",
        "Per dataset / backbone and metric, each scored output of each variant (x) and its rank on "
        "bootstrap resamples of the test cases (y, 1 = best): blob area = share of resamples at "
        "that rank; cross: the rank on the full data (after challengeR's blob plot).",
        plot_rank_blobs(ranks, figures_dir / "rank_stability"),
    )
