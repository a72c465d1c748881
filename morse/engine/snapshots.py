"""Snapshots of a run's weights during training: ``snapshots/iter<NNNNNN>.pt``.

A joint-stage or single-stage run (not a pretraining run) saves ``K = train.snapshots`` of them,
at iterations ``round(k / K * T)`` for ``k = 1 .. K`` (rounded half up; ``T`` the stage's
iterations, ``max_iterations`` under ``until: plateau``, where the planned ones the run reaches
are saved and the iteration it stops at is always the last). The last one holds the final
weights, those of model.pt. Each file is written atomically with the run's config hash, its
iteration and total iteration; run.json lists them (``snapshots``) and
:mod:`morse.engine.budget` evaluates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from morse.engine.checkpoint import save_checkpoint
from morse.method import Segmenter

SNAPSHOT_DIR = "snapshots"
DEFAULT_SNAPSHOTS = 4  # the schema's default of train.snapshots

__all__ = ["DEFAULT_SNAPSHOTS", "SNAPSHOT_DIR", "clear_snapshots", "save_snapshot", "snapshot_file", "snapshot_iterations",
           "takes_snapshots"]


def takes_snapshots(run: dict[str, Any]) -> bool:
    """Joint-stage and single-stage runs take snapshots; pretraining runs do not."""
    return run["variant"] != "pretrain"


def snapshot_iterations(count: int, iterations: int) -> list[int]:
    """``round(k / count * iterations)`` for ``k = 1 .. count``, rounded half up, without repeats
    (fewer iterations than snapshots give fewer snapshots)."""
    if count < 1 or iterations < 1:
        raise ValueError(f"snapshots need count >= 1 and iterations >= 1, got {count} and {iterations}")
    return sorted({(2 * k * iterations + count) // (2 * count) for k in range(1, count + 1)})


def snapshot_file(iteration: int) -> str:
    """The snapshot's path relative to the run folder, e.g. ``snapshots/iter000300.pt``."""
    return f"{SNAPSHOT_DIR}/iter{iteration:06d}.pt"


def save_snapshot(out_dir: Path, model: Segmenter, run: dict[str, Any], iteration: int,
                  total_iteration: int) -> dict[str, Any]:
    """Write the model's weights atomically; returns run.json's entry for it."""
    entry = {"iteration": int(iteration), "total_iteration": int(total_iteration),
             "file": snapshot_file(iteration)}
    path = Path(out_dir) / entry["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"model": model.state_dict(), "config_hash": run["config_hash"],
                           "iteration": entry["iteration"], "total_iteration": entry["total_iteration"]})
    return entry


def clear_snapshots(out_dir: Path) -> None:
    """Remove the snapshots (and their temporaries) an earlier training of this folder left, so
    that a fresh run's folder holds only its own."""
    folder = Path(out_dir) / SNAPSHOT_DIR
    for stale in [*folder.glob("iter*.pt"), *folder.glob(".tmp-*")]:
        stale.unlink(missing_ok=True)
