"""Everything the report reads, read in one call: the aggregated tables, the runs the config
names, the published numbers, the refinement counts, the compare step's regime tables, the
training and validation logs and qualitative slices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from morse.analysis.inputs.answer import AnswerTables, read_answer_tables
from morse.analysis.inputs.regime import RegimeTables, read_regime_tables, read_validation_logs
from morse.analysis.inputs.runs import (
    QualitativeSamples,
    Run,
    read_qualitative_samples,
    read_runs,
    read_training_logs,
)
from morse.analysis.inputs.tables import (
    DEFAULT_REFERENCE_RESULTS,
    Tables,
    check_runs_match,
    read_references,
    read_refinement,
    read_tables,
)
from morse.config import REFERENCE_VARIANT

__all__ = ["ReportInputs", "read_report_inputs"]


@dataclass(frozen=True)
class ReportInputs:
    """The report's inputs. ``refinement``: None when the experiment has no ``refinement.csv``;
    ``regime``: the compare step's regime tables; ``validation_logs``: the ``val_log.csv`` of the
    pretrain and baseline runs that have one; ``paths``: the files the report lists with their
    SHA-256 (tables, published numbers); ``answer``: verdicts.csv and rank_stability.csv (each
    None when absent)."""

    tables: Tables
    runs: list[Run]
    pretrain: list[Run]
    references: pd.DataFrame
    refinement: pd.DataFrame | None
    training_logs: pd.DataFrame
    qualitative: QualitativeSamples
    paths: list[Path]
    regime: RegimeTables
    validation_logs: pd.DataFrame
    answer: AnswerTables


def read_report_inputs(
    results_dir: Path,
    runs: Sequence[Path],
    pretrain_runs: Sequence[Path] = (),
    reference_results: Path | None = None,
) -> ReportInputs:
    """Read the report's inputs (see :func:`morse.analysis.report.build_report` for the
    arguments); a stale metrics.csv or a named run with a missing file is an error naming it."""
    results_dir = Path(results_dir)
    tables = read_tables(results_dir)
    variant_runs, first_stage = read_runs(runs), read_runs(pretrain_runs)
    check_runs_match(tables.metrics, variant_runs)
    references = read_references(reference_results)
    ref_path = Path(reference_results) if reference_results is not None else DEFAULT_REFERENCE_RESULTS
    refinement_path = results_dir / "refinement.csv"
    refinement = read_refinement([refinement_path]) if refinement_path.exists() else None
    regime = read_regime_tables(results_dir)
    answer = read_answer_tables(results_dir)
    paths = [*tables.paths[:4], *([ref_path] if ref_path.exists() else []), *tables.paths[4:],
             *([refinement_path] if refinement is not None else []), *regime.paths, *answer.paths]  # fmt: skip
    backbone_runs = [*first_stage, *(r for r in variant_runs if r.variant == REFERENCE_VARIANT)]
    return ReportInputs(tables=tables, runs=variant_runs, pretrain=first_stage, references=references,
                        refinement=refinement, training_logs=read_training_logs(variant_runs),
                        qualitative=read_qualitative_samples(variant_runs), paths=paths, regime=regime,
                        validation_logs=read_validation_logs(backbone_runs), answer=answer)  # fmt: skip
