"""The regime's files: the snapshot metrics (``budget_metrics.csv``), the runs' validation curves
(``val_log.csv``) and the tables the compare step writes about the regime (backbone and head
adequacy, the budget comparisons and trends) and the ablation trends, each read with its columns
checked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from morse.analysis.inputs.runs import Run
from morse.analysis.inputs.tables import RUN_KEYS

__all__ = ["BUDGET_REQUIRED", "VAL_LOG_COLUMNS", "RegimeTables", "read_budget_metrics", "read_regime_tables",
           "read_validation_logs"]  # fmt: skip

#: The columns a ``budget_metrics.csv`` must have besides its metric columns.
BUDGET_REQUIRED = [*RUN_KEYS, "case", "class", "class_index", "iteration", "total_iteration"]
#: The columns of a run's ``val_log.csv``.
VAL_LOG_COLUMNS = ["iteration", "stage", "total_iteration", "val_dice"]
_FILES = {"backbones": "backbone_adequacy.csv", "heads": "head_adequacy.csv",
          "budget": "budget_comparisons.csv", "trends": "budget_trends.csv",
          "ablation_trends": "ablation_trends.csv"}  # fmt: skip
_TEXT = {"dataset": str, "backbone": str, "variant": str, "output": str, "case": str, "class": str,
         "step": str, "metric": str, "state": str, "trend": str, "verdict": str, "knob": str, "values": str,
         "variants": str, "means": str, "under_trained": str}  # fmt: skip


def read_budget_metrics(path: Path | None) -> pd.DataFrame:
    """The aggregated ``budget_metrics.csv`` (the metrics of every snapshot on the test split);
    an empty frame when no path is given or the file has no rows; a missing column is named."""
    if path is None:
        return pd.DataFrame(columns=BUDGET_REQUIRED)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; rerun snakemake (the snapshot evaluation and aggregate build it)")
    try:
        frame = pd.read_csv(path, dtype={k: str for k in ("dataset", "backbone", "variant", "output", "case", "class")},
                            keep_default_na=False, na_values=["", "nan", "NaN"])  # fmt: skip
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=BUDGET_REQUIRED)
    missing = [c for c in BUDGET_REQUIRED if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"{path}: missing column(s) {missing}; rerun its snapshot evaluation")
    return frame


def read_validation_logs(runs: Sequence[Run]) -> pd.DataFrame:
    """The ``val_log.csv`` of every given run that has one (runs made before validation logging,
    and datasets without a validation split, have none), with dataset, backbone, variant, seed."""
    frames = []
    for run in runs:
        path = run.folder / "val_log.csv"
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        missing = [c for c in VAL_LOG_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"run {run.name}: {path} lacks column(s) {missing}; retrain it")
        frames.append(frame[VAL_LOG_COLUMNS].assign(dataset=run.dataset, backbone=run.backbone,
                                                    variant=run.variant, seed=run.seed))  # fmt: skip
    columns = ["dataset", "backbone", "variant", "seed", *VAL_LOG_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


@dataclass(frozen=True)
class RegimeTables:
    """What the compare step wrote about the regime; a table is None when its file is absent
    (results made before the regime analysis)."""

    backbones: pd.DataFrame | None
    heads: pd.DataFrame | None
    budget: pd.DataFrame | None
    trends: pd.DataFrame | None
    paths: list[Path]
    #: ``ablation_trends.csv``: the trend over each ablated knob (:mod:`morse.analysis.ablation_trends`)
    ablation_trends: pd.DataFrame | None = None


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=_TEXT, keep_default_na=False, na_values=["", "nan", "NaN"])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def read_regime_tables(results_dir: Path) -> RegimeTables:
    """``backbone_adequacy.csv``, ``head_adequacy.csv``, ``budget_comparisons.csv``,
    ``budget_trends.csv`` and ``ablation_trends.csv`` of ``results_dir``, each None when absent."""
    found = {name: Path(results_dir) / file for name, file in _FILES.items()}
    present = {name: path for name, path in found.items() if path.is_file()}
    frames = {name: (_read(path) if name in present else None) for name, path in found.items()}
    return RegimeTables(paths=list(present.values()), **frames)
