"""Hand-made regime files in the formats the training side writes them (docs/regime.md): a run's
``val_log.csv`` and run.json ``validation`` record, and the snapshot metrics ``budget_metrics.csv``.

:func:`validation_record` computes the plateau of a validation series with the suite's plateau
statistic (:func:`morse.evaluation.convergence.point_loss_plateau`) applied to the Dice error
``1 - dice``, which falls where the Dice rises, and renames its keys as run.json records them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fake_results import metric_frame, numbered

from morse.evaluation.convergence import point_loss_plateau

ROWS = 50  # validation rows per run: 10 in the last fifth, more than the criterion's minimum of 8


def series(kind: str, start: float = 0.70, rise: float = 0.15, rows: int = ROWS, seed: int = 0) -> np.ndarray:
    """A validation Dice series: ``rising`` (linear by ``rise`` over the run, noise 0.002) or
    ``flat`` (an exponential approach to ``start + rise`` that ends long before the last fifth)."""
    t = np.linspace(0.0, 1.0, rows)
    noise = np.random.default_rng(seed).normal(0.0, 0.002, rows)
    if kind == "rising":
        return start + rise * t + noise
    return start + rise * (1.0 - np.exp(-25.0 * t)) + noise


def validation_record(iterations: Sequence[int], dice: Sequence[float], total: int) -> dict[str, Any]:
    """run.json ``validation`` of a series: the plateau of the Dice error, its keys renamed
    (start/end value as Dice)."""
    plateau = point_loss_plateau(iterations, 1.0 - np.asarray(dice), total)
    start, end = plateau.pop("start_loss"), plateau.pop("end_loss")
    plateau["start_value"] = None if start is None else 1.0 - start
    plateau["end_value"] = None if end is None else 1.0 - end
    return {"metric": "dice", "split": "val", "n_cases": 3, "final": float(dice[-1]),
            "best": float(np.max(dice)), "plateau": plateau}  # fmt: skip


def add_validation(folder: Path, dice: Sequence[float], total: int, offset: int = 0,
                   stage: str = "joint", **run: Any) -> dict[str, Any]:  # fmt: skip
    """Write ``val_log.csv`` and run.json's ``validation`` (and any other ``run`` fields) into a
    run folder, creating run.json from ``run`` where it has none; returns the record."""
    iterations = np.linspace(total / len(dice), total, len(dice)).round().astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"iteration": iterations, "stage": stage, "total_iteration": iterations + offset,
                  "val_dice": dice}).to_csv(folder / "val_log.csv", index=False)  # fmt: skip
    path = folder / "run.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    record = validation_record(iterations, dice, total)
    path.write_text(json.dumps({**info, **run, "validation": record}))
    return record


def budget_metrics(arms: Mapping[str, Sequence[str]], dice: Callable[[str, str, int, int], float],
                   snapshots: Sequence[int], offset: int = 0, cases: int = 8,
                   dataset: str = "synapse", backbone: str = "unet") -> pd.DataFrame:  # fmt: skip
    """``budget_metrics.csv`` rows: per snapshot (its iteration in ``snapshots``, total iteration
    plus ``offset``) the metric rows of :func:`fake_results.metric_frame` for one class, with Dice
    ``dice(variant, output, snapshot_position, case_position)`` and HD95 ``10 * (1 - dice)`` mm."""
    frames = []
    for k, iteration in enumerate(snapshots):
        def scores(variant: str, output: str, _seed: int, case: int, _class: int, k: int = k) -> dict:
            value = dice(variant, output, k, case)
            return {"dice": value, "hd95_mm": 10.0 * (1.0 - value)}

        frame = metric_frame(arms, scores, classes=numbered(["a"]), cases=[f"c{i}" for i in range(cases)],
                             dataset=dataset, backbone=backbone)  # fmt: skip
        frames.append(frame.assign(iteration=iteration, total_iteration=iteration + offset))
    return pd.concat(frames, ignore_index=True)
