"""The runs the config names: their ``run.json`` records and the run-folder files the report
shows (``train_log.csv``, ``qualitative.npz``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morse.analysis.vocabulary import PRETRAIN, variant_rank

__all__ = [
    "Ablation",
    "Run",
    "read_qualitative",
    "read_qualitative_samples",
    "read_runs",
    "read_training_logs",
]

#: Per dataset x backbone, per variant: the arrays of one run's ``qualitative.npz``.
QualitativeSamples = dict[tuple[str, str], dict[str, dict[str, np.ndarray]]]


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


def read_qualitative_samples(runs: Sequence[Run]) -> QualitativeSamples:
    """What the report's qualitative figures show: per dataset x backbone (sorted), per variant
    (in the order of ``runs`` stably sorted by seed), the ``qualitative.npz`` of its lowest seed."""
    first_seed: dict[tuple[str, str], dict[str, Run]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        first_seed.setdefault((run.dataset, run.backbone), {}).setdefault(run.variant, run)
    return {key: {variant: read_qualitative(run) for variant, run in chosen.items()}
            for key, chosen in sorted(first_seed.items())}  # fmt: skip
