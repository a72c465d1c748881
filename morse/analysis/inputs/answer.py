"""What the answer (verdicts, rank stability, the index of experiments) reads from disk.

- :func:`read_verdict_inputs`: the verdict step's inputs (aggregated metrics and comparisons,
  refinement counts and the ablation trend table when present, the named runs);
- :func:`read_answer_tables`: ``verdicts.csv`` and ``rank_stability.csv`` for the report (None
  when a file is absent, so the report says so instead of failing);
- :func:`read_summaries`: every ``reports/<experiment>/verdicts.json`` for the index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from morse.analysis.inputs.runs import Run, read_runs
from morse.analysis.inputs.tables import read_refinement

__all__ = ["TRENDS_FILE", "AnswerTables", "Summary", "VerdictInputs", "read_answer_tables", "read_summaries",
           "read_verdict_inputs"]  # fmt: skip

#: The ablation trend table another step writes (knob, metric, output, slope, ci_low, ci_high, p_holm).
TRENDS_FILE = "ablation_trends.csv"
_TRENDS_COLUMNS = ["knob", "metric", "output", "slope", "ci_low", "ci_high", "p_holm"]
_TEXT = {"dataset": str, "backbone": str, "variant": str, "output": str, "case": str, "class": str,
         "metric": str, "claim": str, "state": str, "reference_variant": str, "reference_output": str}  # fmt: skip


def _csv(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """A results table with its text columns as text; a missing required column is named."""
    try:
        frame = pd.read_csv(path, dtype=_TEXT, keep_default_na=False, na_values=["", "nan", "NaN"])
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(required))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; rebuild it (rerun snakemake)")
    return frame


@dataclass(frozen=True)
class VerdictInputs:
    """The verdict step's inputs; ``refinement`` and ``trends`` are None when not in the results."""

    metrics: pd.DataFrame
    comparisons: pd.DataFrame
    refinement: pd.DataFrame | None
    trends: pd.DataFrame | None
    runs: list[Run]


def read_verdict_inputs(results_dir: Path, runs: Sequence[Path]) -> VerdictInputs:
    """metrics.csv and comparisons.csv (required), refinement.csv and ablation_trends.csv (when
    present) of ``results_dir``, and the named runs' records."""
    results_dir = Path(results_dir)
    for name in ("metrics.csv", "comparisons.csv"):
        if not (results_dir / name).is_file():
            raise FileNotFoundError(f"verdict input missing: {results_dir / name}; run the aggregate and "
                                    "compare steps first (snakemake does)")  # fmt: skip
    refinement = results_dir / "refinement.csv"
    trends = results_dir / TRENDS_FILE
    return VerdictInputs(
        metrics=_csv(results_dir / "metrics.csv", ["dataset", "backbone", "variant", "output", "case"]),
        comparisons=_csv(results_dir / "comparisons.csv", ["dataset", "backbone", "metric", "variant", "output"]),
        refinement=read_refinement([refinement]) if refinement.is_file() else None,
        trends=_csv(trends, _TRENDS_COLUMNS) if trends.is_file() else None,
        runs=read_runs(runs),
    )  # fmt: skip


@dataclass(frozen=True)
class AnswerTables:
    """``verdicts.csv`` and ``rank_stability.csv`` (None when absent) and the paths read."""

    verdicts: pd.DataFrame | None
    ranks: pd.DataFrame | None
    paths: list[Path]


def read_answer_tables(results_dir: Path) -> AnswerTables:
    """The verdict step's outputs in ``results_dir``, each None when it is not there."""
    results_dir = Path(results_dir)
    found = {name: results_dir / f"{name}.csv" for name in ("verdicts", "rank_stability")}
    frames = {name: _csv(path) if path.is_file() else None for name, path in found.items()}
    return AnswerTables(verdicts=frames["verdicts"], ranks=frames["rank_stability"],
                        paths=[p for p in found.values() if p.is_file()])  # fmt: skip


@dataclass(frozen=True)
class Summary:
    """One experiment's ``verdicts.json`` (``data``), or why it could not be read (``problem``)."""

    experiment: str
    folder: Path
    data: dict[str, Any] | None
    problem: str = ""


def read_summaries(reports_dir: Path, summary_name: str = "verdicts.json") -> list[Summary]:
    """Every ``<reports_dir>/<experiment>/`` holding an ``index.html`` or a summary, by name; an
    unreadable summary is kept with the problem, never an error (the index lists it as such)."""
    reports_dir = Path(reports_dir)
    out = []
    folders = sorted(p for p in reports_dir.iterdir() if p.is_dir()) if reports_dir.is_dir() else []
    for folder in folders:
        path = folder / summary_name
        if not path.is_file():
            if (folder / "index.html").is_file():
                out.append(Summary(folder.name, folder, None, f"no {summary_name}: a report made before "
                                   "verdicts were written; rerun snakemake for it"))  # fmt: skip
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            out.append(Summary(folder.name, folder, None, f"{path.name} unreadable ({error}); rerun its report"))
            continue
        out.append(Summary(str(data.get("experiment", folder.name)), folder, data))
    return out
