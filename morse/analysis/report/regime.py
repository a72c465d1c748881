"""Sections "Is the backbone trained?" and "The effect across the training budget": the compare
step's ``backbone_adequacy.csv`` and ``budget_trends.csv`` formatted, the runs' validation
plateaus (run.json ``validation``) and their curves drawn. Nothing here judges anew."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from morse.analysis.inputs.runs import Run
from morse.analysis.plots.budget import plot_budget_curves
from morse.analysis.plots.convergence import plot_validation_curves
from morse.analysis.regime.backbone import NO_REFERENCE, plateau_phrase
from morse.analysis.regime.budget import NOT_AVAILABLE
from morse.analysis.report.figures import Entry, entry
from morse.analysis.report.format import fmt, fmt_ci, html_table, is_missing, slug
from morse.analysis.vocabulary import digits, metric_label, output_rank, variant_rank

__all__ = ["NO_BUDGET", "backbone_sections", "budget_section", "convergence_entry"]

#: What the report says where no snapshot was evaluated: never a flat line.
NO_BUDGET = "budget curve: not available"


def _yes_no(value: object) -> str:
    if is_missing(value) or value == "":
        return "undetermined"
    return "yes" if str(value).lower() in ("true", "1") else "no"


def _plateau_rows(runs: Sequence[Run]) -> pd.DataFrame:
    """Per pretrain / baseline run: its validation record, as the report shows it."""
    rows = []
    for run in runs:
        validation = run.info.get("validation")
        validation = validation if isinstance(validation, dict) else {}
        plateau = validation.get("plateau") if isinstance(validation.get("plateau"), dict) else {}
        rows.append({
            "run": "pretrain" if run.is_pretrain else run.variant, "seed": run.seed,
            "validation Dice on its plateau": _yes_no(plateau.get("converged")) if plateau else "not recorded",
            "change over the window ± SE": plateau_phrase(plateau) if plateau else "n/a",
            "final": fmt(validation.get("final"), 3), "best": fmt(validation.get("best"), 3),
            "validation cases": validation.get("n_cases", "n/a"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _reference_row(row: Any) -> pd.DataFrame:
    if is_missing(row.reference_dice):
        return pd.DataFrame()
    return pd.DataFrame([{
        "baseline test Dice (coarse)": fmt(row.baseline_dice, 3), "reference Dice": fmt(row.reference_dice, 4),
        "fraction reached": "n/a" if is_missing(row.reference_fraction) else f"{100 * float(row.reference_fraction):.0f} %",
        "required": f"{100 * float(row.min_fraction):.0f} %", "source": row.reference_source,
        "protocol": row.reference_protocol,
    }])  # fmt: skip


def backbone_sections(backbones: pd.DataFrame | None, runs: Sequence[Run], pretrain: Sequence[Run],
                      logs: pd.DataFrame, figures_dir: Path,
                      reference_variant: str = "baseline") -> list[dict[str, Any]]:  # fmt: skip
    """Per dataset x backbone of ``backbone_adequacy.csv``: title, state, reason, the validation
    curves of its pretrain and baseline runs (``logs``, None without), the plateau of each of these
    runs, and the reference comparison (or the sentence that there is no published reference).
    Empty when the table is absent (results before the regime analysis)."""
    if backbones is None or backbones.empty:
        return []
    out = []
    for row in backbones.itertuples(index=False):
        pair = (str(row.dataset), str(row.backbone))
        judged = [r for r in [*pretrain, *runs] if (r.dataset, r.backbone) == pair
                  and (r.is_pretrain or r.variant == reference_variant)]  # fmt: skip
        here = logs[(logs["dataset"] == pair[0]) & (logs["backbone"] == pair[1])] if len(logs) else logs
        out.append({"title": f"{pair[0]} / {pair[1]}", "state": str(row.state), "reason": str(row.reason),
                    "figure": convergence_entry(here, figures_dir / f"validation_curves_{slug(pair[0])}_{slug(pair[1])}"),
                    "plateau_html": html_table(_plateau_rows(judged)),
                    "reference_html": html_table(_reference_row(row)),
                    "no_reference": NO_REFERENCE if is_missing(row.reference_dice) else ""})  # fmt: skip
    return out


def convergence_entry(logs: pd.DataFrame, out_stem: Path) -> Entry | None:
    """The validation curves of the pretrain and baseline runs; None without validation logs."""
    paths = plot_validation_curves(logs, out_stem)
    if not paths:
        return None
    return entry(
        "Validation Dice across the backbone's training",
        "Mean Dice of the coarse output over the validation cases and foreground classes, logged "
        "during training, against the iteration counted from the start of the backbone's training "
        "(the baseline's joint stage continues where pretraining, black, stopped); one line per run "
        "and seed. The plateau criterion reads the last fifth of each run.",
        paths,
    )


def _trend_table(trends: pd.DataFrame) -> pd.DataFrame:
    table = trends.assign(_v=trends["variant"].astype(str).map(variant_rank),
                          _o=trends["output"].astype(str).map(output_rank))  # fmt: skip
    table = table.sort_values(["dataset", "backbone", "_v", "_o"], kind="mergesort")
    return pd.DataFrame([{
        "dataset": r.dataset, "backbone": r.backbone, "variant": r.variant, "output": r.output,
        "metric": metric_label(str(r.metric)), "trend": r.trend,
        "first snapshot: difference": f"{int(r.first_iteration)}: {fmt(r.first_difference, digits(str(r.metric)), True)}",
        "last snapshot: difference [95% CI]": f"{int(r.last_iteration)}: "
        + fmt_ci(r.last_difference, r.last_ci_low, r.last_ci_high, digits(str(r.metric))),
        "snapshots": int(r.n_snapshots),
    } for r in table.itertuples(index=False)])  # fmt: skip


def budget_section(rows: pd.DataFrame | None, trends: pd.DataFrame | None, pairs: Sequence[tuple[str, str]],
                   figures_dir: Path) -> dict[str, Any]:  # fmt: skip
    """The budget figure and trend table, and one "budget curve: not available" line per
    dataset x backbone of ``pairs`` without snapshot rows."""
    rows = rows if rows is not None else pd.DataFrame()
    trends = trends if trends is not None else pd.DataFrame()
    traced = set() if rows.empty else {(str(d), str(b)) for d, b in rows[["dataset", "backbone"]].itertuples(index=False)}
    missing = [f"{d} / {b}: {NO_BUDGET}" for d, b in pairs if (d, b) not in traced]
    figure = None
    if not rows.empty:
        figure = entry(
            "The effect across the training budget",
            "Paired difference variant − baseline (coarse output) over the test cases with its 95 % "
            "bootstrap CI (band) at each weight snapshot, against the iteration counted from the start "
            "of the backbone's training; solid: coarse output, dashed: refined; black: zero. The legend "
            "names each line's trend. Test split: these curves describe, nothing is chosen on them.",
            plot_budget_curves(rows, trends, figures_dir / "budget_curves"),
        )  # fmt: skip
    return {"figure": figure, "missing": missing, "not_available": NOT_AVAILABLE,
            "html": "" if trends.empty else html_table(_trend_table(trends))}
