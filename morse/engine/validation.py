"""The validation curve of a training run: the coarse output's mean foreground Dice on the
validation cases every ``train.validate_every`` iterations (val_log.csv), and run.json's
``validation`` record with its plateau (:func:`morse.evaluation.convergence.validation_plateau`).

Validation predicts with the evaluate step's code (:func:`morse.engine.evaluate.predict_case`:
slice-wise in 2D, sliding windows in 3D; the coarse output only, the head does not run) and scores
with :func:`morse.evaluation.metrics.case_dice` (the ``dice`` column of metrics.csv), in eval
mode and under ``torch.no_grad``. It leaves the training untouched: the model returns to train
mode and every random generator to the state it had before, so a run with validation ends with
the same weights bit for bit as one without (tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from morse.data.prepared.format import DatasetInfo, mask_outside_fov
from morse.engine.checkpoint import rng_state, set_rng_state
from morse.engine.evaluate import inference_batch, predict_case, scored_case
from morse.evaluation.convergence import validation_plateau
from morse.evaluation.metrics import case_dice
from morse.method import Segmenter

VAL_LOG_COLUMNS = ["iteration", "stage", "total_iteration", "val_dice"]
#: Validation rows over a stage by default (10 in the plateau's window, the last fifth).
ROWS_PER_STAGE = 50
#: Under ``until: plateau``: rows over ``max_iterations`` by default, so that the window of the
#: last fifth of the iterations so far holds the 8 rows the criterion needs from a fifth of
#: ``max_iterations`` on (0.2 t / (max / 250) >= 8 for t >= 0.16 max).
ROWS_PER_MAX = 250

__all__ = [
    "ROWS_PER_MAX",
    "ROWS_PER_STAGE",
    "VAL_LOG_COLUMNS",
    "training_stage",
    "val_row",
    "validate_every",
    "validation_dice",
    "validation_record",
]


def training_stage(run: dict[str, Any]) -> str:
    """``pretrain`` (the backbone-only first stage), ``joint`` (a variant under protocol
    two_stage) or ``single`` (protocol single_stage)."""
    if run["variant"] == "pretrain":
        return "pretrain"
    return "joint" if run.get("protocol") == "two_stage" else "single"


def validate_every(run: dict[str, Any]) -> int:
    """``train.validate_every``, or by default a fiftieth of the stage's iterations (a
    two-hundred-and-fiftieth of ``max_iterations`` under ``until: plateau``), at least 1."""
    settings = run["train"]
    if settings.get("validate_every"):
        return int(settings["validate_every"])
    if settings.get("until") == "plateau":
        return max(1, int(settings["iterations"]) // ROWS_PER_MAX)
    return max(1, int(settings["iterations"]) // ROWS_PER_STAGE)


def validation_dice(model: Segmenter, run: dict[str, Any], data_root: Path, info: DatasetInfo,
                    device: torch.device) -> float:
    """Mean Dice of the coarse output over the validation cases and their foreground classes and
    regions (the mean of metrics.csv's coarse ``dice`` column had the val split been evaluated),
    in eval mode; the model's mode and the random generators' states are restored afterwards."""
    state, training = rng_state(), model.training
    try:
        model.eval()
        dice: list[float] = []
        for case in info.splits["val"]:
            image, label, fov = scored_case(data_root, case)
            predictions = predict_case(model, run, image, device, inference_batch(run), refine=False)
            mask_outside_fov(fov, label, predictions)
            rows = case_dice(predictions["coarse"], label, info.class_names, info.regions)
            dice.extend(row["dice"] for row in rows)
        return float(np.mean(dice))
    finally:
        model.train(training)
        set_rng_state(state)


def val_row(run: dict[str, Any], iteration: int, offset: int, dice: float) -> dict[str, Any]:
    """One val_log.csv row; ``total_iteration`` counts from the start of the backbone's training
    (``offset``: the pretraining run's iterations for a joint-stage run, else 0)."""
    return {"iteration": iteration, "stage": training_stage(run), "total_iteration": iteration + offset,
            "val_dice": dice}


def validation_record(rows: list[dict[str, Any]], n_cases: int, iterations: int, every: int,
                      seconds: float) -> dict[str, Any] | None:
    """run.json's ``validation``: the split, its size, the final and best validation Dice and the
    rising-metric plateau over the run's ``iterations``; None without validation cases."""
    if not n_cases:
        return None
    dice = [row["val_dice"] for row in rows]
    return {
        "metric": "dice", "split": "val", "n_cases": int(n_cases),
        "final": dice[-1] if dice else None, "best": max(dice) if dice else None,
        "plateau": validation_plateau([row["iteration"] for row in rows], dice, max(iterations, 1)),
        "validate_every": int(every), "seconds": round(seconds, 3),
    }
