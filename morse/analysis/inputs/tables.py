"""The results tables: the per-run tables the aggregate and compare steps combine
(``metrics.csv``, ``boundary.csv``, ``refinement.csv``) and the aggregated tables of an experiment
(``results/<experiment>/*.csv``), each read with its columns checked."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from morse.analysis.inputs.runs import Run
from morse.config import REFERENCE_RESULTS
from morse.evaluation.metrics import METRIC_COLUMNS
from morse.evaluation.refinement import REFINEMENT_COLUMNS

__all__ = [
    "DEFAULT_REFERENCE_RESULTS",
    "REQUIRED_COLUMNS",
    "RUN_KEYS",
    "BUDGET_COLUMNS",
    "Tables",
    "aggregate_budget_metrics",
    "aggregate_metrics",
    "check_runs_match",
    "read_boundaries",
    "read_comparison_metrics",
    "read_references",
    "read_refinement",
    "read_tables",
    "sha256",
]

#: Published numbers shipped with the repository (used when no reference file is given).
DEFAULT_REFERENCE_RESULTS = REFERENCE_RESULTS
RUN_KEYS = ["dataset", "backbone", "variant", "seed", "output"]
#: The columns every per-run ``metrics.csv`` must have.
REQUIRED_COLUMNS = [
    *RUN_KEYS,
    "case",
    "class",
    "class_index",
    *METRIC_COLUMNS,
    "empty_reference",
    "empty_prediction",
]
SORT_KEYS = [*RUN_KEYS, "case", "class_index", "class"]
REQUIRED_TABLES = ("metrics", "summary", "comparisons", "empty_counts")
_TABLE_COLUMNS = {
    "metrics": REQUIRED_COLUMNS,
    "summary": [
        "dataset", "backbone", "variant", "output", "class", "metric", "mean", "std", "n_seeds",
        "n_cases",
    ],
    "comparisons": [
        "dataset", "backbone", "metric", "variant", "output", "reference_variant",
        "reference_output", "comparison", "n_cases", "n_seeds", "mean_reference", "mean_variant",
        "mean_difference", "ci_low", "ci_high", "p_value", "p_holm", "effect_size",
        "effect_size_name", "seed_sd", "better",
    ],
    "empty_counts": [
        "dataset", "backbone", "variant", "output", "class", "empty_reference",
        "empty_prediction", "both_empty",
    ],
}  # fmt: skip
_BOUNDARY_COLUMNS = ["dataset", "backbone", "variant", "seed", "output", "distance_mm",
                     "n_voxels", "n_errors"]  # fmt: skip
_REFERENCE_COLUMNS = ["dataset", "backbone", "variant", "output", "class", "metric", "value",
                      "unit", "source", "table", "note"]  # fmt: skip
#: Columns a reference file may lack (older files), with the value they then take.
_REFERENCE_DEFAULTS = {"role": "published", "protocol": ""}
_TEXT = {"dataset": str, "backbone": str, "variant": str, "output": str, "case": str, "class": str}
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f", ""}


# ---------------------------------------------------------------------------------------------
# per-run tables (the aggregate and compare steps)
# ---------------------------------------------------------------------------------------------
def _to_bool(series: pd.Series, name: str, source: str) -> pd.Series:
    """Parse a boolean column that may have been read back from CSV as text."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(bool)
    text = series.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise ValueError(
            f"{source}: column {name!r} has non-boolean values {sorted(set(text[bad]))}"
        )
    return text.isin(_TRUE)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in SORT_KEYS if k in frame.columns]
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _read_run_metrics(path: Path, required: Sequence[str]) -> pd.DataFrame:
    """One run's metrics.csv (or budget_metrics.csv): checked, typed, with a ``source`` column."""
    if not path.is_file():
        raise FileNotFoundError(
            f"run {path.parent}: {path.name} is missing, but the config names this run; "
            "rerun snakemake to evaluate it"
        )
    frame = pd.read_csv(path, dtype=_TEXT, keep_default_na=False, na_values=["", "nan", "NaN"])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing required column(s) {missing}")
    for col in ("empty_reference", "empty_prediction"):
        frame[col] = _to_bool(frame[col], col, str(path))
    frame["seed"] = frame["seed"].astype(np.int64)
    frame["class_index"] = frame["class_index"].astype(np.int64)
    for col in METRIC_COLUMNS:
        frame[col] = pd.to_numeric(frame[col], errors="raise").astype(float)
    frame["source"] = str(path)
    return frame


def aggregate_metrics(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate per-run metrics.csv files into one frame, checked and sorted.

    Raises ``ValueError`` naming the file when it lacks a required column, and when no path
    is given; ``FileNotFoundError`` naming the run when its file is missing. Case and class identifiers are kept as strings (case ``"0001"`` stays ``"0001"``).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("aggregate_metrics: no metrics files given")
    return _sorted(pd.concat([_read_run_metrics(p, REQUIRED_COLUMNS) for p in paths], ignore_index=True))


#: The columns every per-run ``budget_metrics.csv`` must have: metrics.csv's and the snapshot's.
BUDGET_COLUMNS = [*REQUIRED_COLUMNS, "iteration", "total_iteration"]


def aggregate_budget_metrics(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate per-run budget_metrics.csv files (the snapshots' test metrics; a run without
    snapshots adds no rows), checked like :func:`aggregate_metrics` and sorted by run, output,
    iteration, case and class. A missing file is an error naming its run."""
    frames = [_read_run_metrics(Path(p), BUDGET_COLUMNS) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=[*BUDGET_COLUMNS, "source"])
    frame = pd.concat(frames, ignore_index=True)
    for col in ("iteration", "total_iteration"):
        frame[col] = frame[col].astype(np.int64)
    keys = [*RUN_KEYS, "iteration", "case", "class_index", "class"]
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


def read_boundaries(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate per-run boundary.csv files (empty ones add no rows); a missing file is an
    error naming its run."""
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"run {Path(missing[0]).parent}: boundary.csv is missing, but "
                                "the config names this run; rerun snakemake to evaluate it")
    frames = [pd.read_csv(p) for p in paths if Path(p).stat().st_size > 1]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_refinement(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate per-run refinement.csv files (empty ones, from runs without a head, add no
    rows) into one frame with :data:`REFINEMENT_COLUMNS`; a file lacking a column is named."""
    frames = []
    for path in map(Path, paths):
        frame = pd.read_csv(path, dtype={"case": str, "step": str, "class": str},
                            keep_default_na=False)
        missing = [c for c in REFINEMENT_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing refinement column(s) {missing}; re-run its evaluate step")
        frames.append(frame[REFINEMENT_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=REFINEMENT_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def read_comparison_metrics(path: Path) -> pd.DataFrame:
    """The aggregated metrics.csv as the compare step reads it: pandas' own column types (the
    paired statistics only match its key columns and average its metric columns)."""
    return pd.read_csv(path)


# ---------------------------------------------------------------------------------------------
# the aggregated tables (the report)
# ---------------------------------------------------------------------------------------------
def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A results table (empty file: no rows); missing columns are an error when it has rows."""
    try:
        frame = pd.read_csv(path, dtype=_TEXT, keep_default_na=False, na_values=["", "nan", "NaN"])
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    missing = [c for c in columns if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"{path}: missing columns {missing}")
    return frame.reindex(columns=[*frame.columns, *missing])


@dataclass(frozen=True)
class Tables:
    """The aggregated tables of one experiment (``boundary`` None when not computed)."""

    metrics: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    empty_counts: pd.DataFrame
    boundary: pd.DataFrame | None
    paths: list[Path]


def read_tables(results_dir: Path) -> Tables:
    """metrics, summary, comparisons and empty_counts (required) and boundary.csv (optional)."""
    results_dir = Path(results_dir)
    frames, paths = {}, []
    for name in REQUIRED_TABLES:
        path = results_dir / f"{name}.csv"
        if not path.exists():
            raise FileNotFoundError(f"report input missing: {path}")
        frames[name] = _read_csv(path, _TABLE_COLUMNS[name])
        paths.append(path)
    boundary_path = results_dir / "boundary.csv"
    boundary = None
    if boundary_path.exists():
        boundary = _read_csv(boundary_path, _BOUNDARY_COLUMNS)
        paths.append(boundary_path)
    return Tables(boundary=boundary, paths=paths, **frames)


def check_runs_match(metrics: pd.DataFrame, runs: Sequence[Run]) -> None:
    """metrics.csv must hold exactly the given runs: a stale table or a missing run is an error."""
    keys = ["dataset", "backbone", "variant", "seed"]
    in_table = {(str(d), str(b), str(v), int(s))
                for d, b, v, s in metrics[keys].drop_duplicates().itertuples(index=False)}  # fmt: skip
    named = {(r.dataset, r.backbone, r.variant, r.seed) for r in runs}
    extra, absent = sorted(in_table - named), sorted(named - in_table)
    if extra:
        raise ValueError(
            "metrics.csv holds run(s) the config does not name: "
            + ", ".join("/".join(map(str, k)) for k in extra)
            + "; it is stale: rerun snakemake (the aggregate rule rebuilds it)"
        )
    if absent:
        raise ValueError(
            "run(s) named by the config have no rows in metrics.csv: "
            + ", ".join("/".join(map(str, k)) for k in absent)
            + "; rerun snakemake (the aggregate rule rebuilds it)"
        )


def read_references(path: Path | None) -> pd.DataFrame:
    """Published numbers (``config/reference_results.csv`` by default); empty without a file.
    ``dataset`` holds a dataset *kind*; ``role`` (``published`` or ``backbone_reference``) and
    ``protocol`` default to ``published`` and empty in files without them."""
    if path is None:
        path = DEFAULT_REFERENCE_RESULTS if DEFAULT_REFERENCE_RESULTS.exists() else None
    if path is None:
        return pd.DataFrame(columns=[*_REFERENCE_COLUMNS, *_REFERENCE_DEFAULTS])
    refs = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(_REFERENCE_COLUMNS) - set(refs.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    for column, default in _REFERENCE_DEFAULTS.items():
        if column not in refs.columns:
            refs[column] = default
        refs[column] = refs[column].replace("", default)
    refs["value"] = pd.to_numeric(refs["value"], errors="coerce")
    return refs


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file (the report lists its inputs with it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
