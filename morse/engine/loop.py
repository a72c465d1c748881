"""The iterations of one training run: step, log, validate, stop on the plateau, snapshot,
checkpoint; and :class:`TrainingState`, what a checkpoint carries so that a resumed run ends
bit for bit where an uninterrupted one ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from morse.engine.checkpoint import rng_state, save_checkpoint
from morse.engine.snapshots import (
    DEFAULT_SNAPSHOTS,
    save_snapshot,
    snapshot_iterations,
    takes_snapshots,
)
from morse.engine.steps import log_row, run_name, step_values, training_step
from morse.engine.validation import val_row, validate_every
from morse.evaluation.convergence import point_loss_plateau, validation_plateau
from morse.method import CoarseLoss, Segmenter

#: Why a stage ended: its fixed count; under ``until: plateau`` its criteria or its maximum.
STOP_REASONS = ("iterations", "plateau", "max_iterations")


@dataclass
class TrainingState:
    """What a resumed run carries on: the next iteration, the log so far, the steps since the
    last log row (their values are averaged into the next row), the wall time spent, the
    validation rows and their time, the snapshots written, and the iteration offset of
    ``total_iteration`` (the pretraining run's iterations for a joint-stage run)."""

    iteration: int = 0
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    elapsed_before: float = 0.0
    pending: list[dict[str, float]] = field(default_factory=list)
    val_rows: list[dict[str, Any]] = field(default_factory=list)
    validation_seconds: float = 0.0
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    iteration_offset: int = 0
    stop_reason: str | None = None

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any]) -> TrainingState:
        """The state a checkpoint holds (one written before validation existed has no rows)."""
        return cls(saved["iteration"], list(saved["log"]), saved["elapsed_s"], list(saved.get("pending", [])),
                   list(saved.get("val_log", [])), float(saved.get("validation_s", 0.0)),
                   list(saved.get("snapshots", [])), int(saved.get("iteration_offset", 0)))

    def checkpoint(self, model: Segmenter, optimizer: torch.optim.Optimizer, done: int, elapsed: float,
                   config_hash: str) -> dict[str, Any]:
        """The checkpoint payload after iteration ``done`` (with the RNG states of now)."""
        return {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "iteration": done,
            "log": self.log_rows, "pending": self.pending, "rng": rng_state(), "elapsed_s": elapsed,
            "config_hash": config_hash, "val_log": self.val_rows, "validation_s": self.validation_seconds,
            "snapshots": self.snapshots, "iteration_offset": self.iteration_offset,
        }


def plateau_reached(model: Segmenter, state: TrainingState, done: int) -> bool:
    """``until: plateau``'s criterion after iteration ``done``: the validation Dice is on its
    plateau over the last fifth of the iterations so far and, for a run with a point head, so is
    the point loss (:mod:`morse.evaluation.convergence`). Undetermined counts as not reached."""
    val = validation_plateau([r["iteration"] for r in state.val_rows], [r["val_dice"] for r in state.val_rows],
                             done)
    if val["converged"] is not True:
        return False
    if not model.has_head:
        return True
    log = state.log_rows
    return point_loss_plateau([r["iteration"] for r in log], [r["point_loss"] for r in log],
                              done)["converged"] is True


def train_iterations(
    run: dict[str, Any], model: Segmenter, optimizer: torch.optim.Optimizer, batches: Iterator[dict[str, Any]],
    device: torch.device, state: TrainingState, out_dir: Path, progress: bool,
    validate: Callable[[Segmenter], float] | None,
) -> None:
    """Iterations ``state.iteration`` .. the end. After each step: a log row every
    ``log_every``; with ``validate``, a validation row every ``validate_every`` and at the last
    iteration (under ``until: plateau`` the stage ends at the first one after which
    :func:`plateau_reached`); a snapshot at the planned iterations and the last; a checkpoint
    every ``checkpoint_every`` (after the step and its rows: resuming starts at the next one)."""
    settings = run["train"]
    end = settings["iterations"]
    until_plateau = settings.get("until") == "plateau"
    every = validate_every(run)
    count = settings.get("snapshots", DEFAULT_SNAPSHOTS)
    planned = set(snapshot_iterations(count, end)) if takes_snapshots(run) else set()
    checkpoint_path = Path(out_dir) / "checkpoint.pt"
    coarse_loss_fn = CoarseLoss()
    model.train()
    started = time.perf_counter()
    bar = tqdm(range(state.iteration, end), desc=run_name(run), disable=not progress,
               initial=state.iteration, total=end, unit="it")
    for iteration in bar:
        losses = training_step(run, model, optimizer, coarse_loss_fn, model.head_config, next(batches),
                               iteration, device, checkpoint_path)
        done = iteration + 1
        state.pending.append(step_values(losses, model.point_stats))
        if done % settings["log_every"] == 0:
            _log(state, done, started, bar)
        stopped = False
        if validate is not None and (done % every == 0 or done == end):
            before = time.perf_counter()
            state.val_rows.append(val_row(run, done, state.iteration_offset, validate(model)))
            state.validation_seconds += time.perf_counter() - before
            stopped = until_plateau and done < end and plateau_reached(model, state, done)
        last = stopped or done == end
        if last and state.pending:
            _log(state, done, started, bar)
        if planned and (done in planned or last):
            state.snapshots.append(save_snapshot(out_dir, model, run, done, done + state.iteration_offset))
        if last:
            state.stop_reason = "plateau" if stopped else "max_iterations" if until_plateau else "iterations"
            state.iteration = done
            break
        if done % settings["checkpoint_every"] == 0:
            elapsed = state.elapsed_before + time.perf_counter() - started
            save_checkpoint(checkpoint_path, state.checkpoint(model, optimizer, done, elapsed, run["config_hash"]))
    state.elapsed_before += time.perf_counter() - started


def _log(state: TrainingState, done: int, started: float, bar: tqdm) -> None:
    """Average the pending steps into one train_log.csv row."""
    elapsed = state.elapsed_before + time.perf_counter() - started
    state.log_rows.append(log_row(done, state.pending, elapsed))
    state.pending = []
    bar.set_postfix(loss=f"{state.log_rows[-1]['loss']:.4f}")
