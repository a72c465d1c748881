"""Stage 1 of the analysis: read the declared inputs once, into typed records and checked frames.

Nothing here globs a results folder: the runs are the ``run.json`` files the caller names (the
report rule's inputs, i.e. the runs the current config resolves), and a run that is named but
whose files are missing is an error naming that run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morse.analysis.aggregate import REQUIRED_COLUMNS
from morse.analysis.vocabulary import PRETRAIN, variant_rank

__all__ = [
    "Ablation",
    "Run",
    "Tables",
    "check_runs_match",
    "read_qualitative",
    "read_references",
    "read_runs",
    "read_tables",
    "read_training_logs",
    "sha256",
]

#: Published numbers shipped with the repository (used when no reference file is given).
DEFAULT_REFERENCE_RESULTS = Path(__file__).resolve().parents[2] / "config" / "reference_results.csv"
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
_TEXT = {"dataset": str, "backbone": str, "variant": str, "output": str, "case": str, "class": str}


@dataclass(frozen=True)
class Ablation:
    """Identity of an ablation point: the ``base`` variant with ``knob`` set to ``value``."""

    base: str
    knob: str
    value: Any


@dataclass(frozen=True)
class Run:
    """One training run as its ``run.json`` records it (``info`` holds the whole record)."""

    dataset: str
    backbone: str
    variant: str
    seed: int
    folder: Path
    info: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        """``dataset/backbone/variant/seed<k>``, how messages name the run."""
        return f"{self.dataset}/{self.backbone}/{self.variant}/seed{self.seed}"

    @property
    def is_pretrain(self) -> bool:
        """The backbone-only first stage of the two-stage protocol, not a variant."""
        return self.variant == PRETRAIN

    @property
    def head(self) -> dict[str, Any]:
        head = self.info.get("head")
        return head if isinstance(head, dict) else {}

    @property
    def train(self) -> dict[str, Any]:
        train = self.info.get("train")
        return train if isinstance(train, dict) else {}

    @property
    def iterations(self) -> int | None:
        value = self.train.get("iterations")
        return None if value is None else int(value)

    @property
    def ablation(self) -> Ablation | None:
        """The ablation point this run trains, as the config recorded it (None otherwise)."""
        entry = self.info.get("ablation")
        return Ablation(**entry) if isinstance(entry, dict) else None

    def file(self, name: str) -> Path:
        """Path of one of the run's files; an error naming the run when it is missing."""
        path = self.folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"run {self.name}: {path} is missing, but the config names this run; "
                "rerun snakemake to produce it"
            )
        return path


def read_runs(paths: Iterable[Path]) -> list[Run]:
    """The runs whose ``run.json`` files are given, sorted by dataset, backbone, variant, seed."""
    runs = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(
                f"run {path.parent}: run.json is missing, but the config names this run; "
                "rerun snakemake to train it"
            )
        info = json.loads(path.read_text())
        runs.append(Run(dataset=str(info["dataset"]), backbone=str(info["backbone"]),
                        variant=str(info["variant"]), seed=int(info["seed"]),
                        folder=path.parent, info=info))  # fmt: skip
    return sorted(runs, key=lambda r: (r.dataset, r.backbone, variant_rank(r.variant), r.seed))


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
    """Published numbers (``config/reference_results.csv`` by default); empty without a file."""
    if path is None:
        path = DEFAULT_REFERENCE_RESULTS if DEFAULT_REFERENCE_RESULTS.exists() else None
    if path is None:
        return pd.DataFrame(columns=_REFERENCE_COLUMNS)
    refs = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(_REFERENCE_COLUMNS) - set(refs.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    refs["value"] = pd.to_numeric(refs["value"], errors="coerce")
    return refs


def read_training_logs(runs: Sequence[Run]) -> pd.DataFrame:
    """Every run's ``train_log.csv`` with its dataset, backbone, variant and seed."""
    frames = [
        pd.read_csv(run.file("train_log.csv")).assign(
            dataset=run.dataset, backbone=run.backbone, variant=run.variant, seed=str(run.seed))
        for run in runs
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_qualitative(run: Run) -> dict[str, np.ndarray]:
    """The arrays of a run's ``qualitative.npz`` (image, label, predictions, points, case)."""
    with np.load(run.file("qualitative.npz"), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file (the report lists its inputs with it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
