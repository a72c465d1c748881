"""Training one run = one dataset x backbone x variant x seed: set up, resume or initialise,
run the iterations (:mod:`morse.engine.loop`), write the outputs and run.json.

The pieces: :mod:`morse.engine.steps` (one SGD step, one log row), :mod:`morse.engine.validation`
(the validation curve), :mod:`morse.engine.snapshots` (weights during training),
:mod:`morse.engine.model` (the network, the pretrained backbone).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from monai.utils import set_determinism
from torch.utils.data import Dataset

from morse.common import atomic_path
from morse.data.loading.patches3d import PatchDataset
from morse.data.loading.sampling import infinite_loader
from morse.data.loading.slices2d import SliceDataset
from morse.data.prepared.format import DatasetInfo, read_dataset_info
from morse.data.sources.fingerprint import dataset_record
from morse.engine.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from morse.engine.device import describe_device, select_device
from morse.engine.loop import TrainingState, train_iterations
from morse.engine.model import build_model, initialise_backbone, trained_iterations
from morse.engine.provenance import execution_host, git_commit, machine_info, package_versions
from morse.engine.snapshots import SNAPSHOT_DIR, clear_snapshots
from morse.engine.steps import NonFiniteLossError, build_optimizer, poly_lr, run_name
from morse.engine.validation import (
    VAL_LOG_COLUMNS,
    validate_every,
    validation_dice,
    validation_record,
)
from morse.evaluation.convergence import point_loss_plateau
from morse.method import Segmenter

__all__ = ["NonFiniteLossError", "TrainingState", "build_model", "initialise_backbone", "loader_seed",
           "make_deterministic", "poly_lr", "train_run", "training_dataset"]


def training_dataset(
    run: dict[str, Any], data_root: Path, cases: list[str], num_classes: int | None = None
) -> Dataset:
    """2D: random slices (SliceDataset); 3D: random patches, half of them centred on foreground
    (PatchDataset). 3D augmentation is random flips unless ``augment`` is ``none``. With
    ``num_classes``, labels outside ``[0, num_classes)`` are refused, naming the case."""
    settings = run["train"]
    patch_size = tuple(settings["patch_size"])
    if run["spatial_dims"] == 3:
        augment = "none" if settings["augment"] == "none" else "flip"
        return PatchDataset(data_root, cases, patch_size, pos_fraction=0.5, augment=augment,
                            seed=run["seed"], num_classes=num_classes)
    return SliceDataset(data_root, cases, patch_size, augment=settings["augment"], seed=run["seed"],
                        num_classes=num_classes)


def loader_seed(run: dict[str, Any]) -> int:
    """Seed of the training sample sequence (order and per-sample augmentation seeds)."""
    return int(run["seed"]) * 100_003


def make_deterministic(device: torch.device) -> None:
    """Ask for deterministic kernels on CUDA (CPU kernels are deterministic already).

    Sets ``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN's deterministic mode
    without autotuning, and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (unless already set; it only
    takes effect if cuBLAS has not been initialised yet in this process).

    Tolerance: on CPU a run is bit-for-bit reproducible, also across a kill and resume (tested
    in tests/reliability). On CUDA it is not guaranteed: a few kernels this code uses have no
    deterministic CUDA implementation (notably the backward of ``grid_sample``, used by point
    sampling, and atomic-add based reductions); ``warn_only=True`` lets them run with a warning
    instead of failing. Their float round-off differences (about 1e-7 relative per operation)
    grow through training. Expected, not yet measured on a GPU: losses of two CUDA runs with the
    same seed and config agree to about 1e-4 relative over the first hundred iterations, and the
    final mean Dice per run to about +-0.005 (0.5 Dice points); bf16 autocast (``train.amp``)
    may widen this to about +-0.01. Compare CUDA reruns with such a tolerance, never with
    equality, and only on the same GPU model, driver and library versions (run.json records
    them). A CUDA run resumed from a checkpoint is exact up to the same tolerance. cuDNN's
    deterministic mode can make convolutions somewhat slower.
    """
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def _write_table(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """A CSV table written atomically (its ``columns`` as a header even without rows)."""
    with atomic_path(path) as tmp:
        (pd.DataFrame(rows) if rows or columns is None else pd.DataFrame(columns=columns)).to_csv(tmp, index=False)


def train_run(
    run: dict[str, Any],
    data_root: Path,
    out_dir: Path,
    threads: int = 1,
    progress: bool = True,
    init_from: Path | None = None,
) -> dict[str, Any]:
    """Train one run, resuming from ``out_dir/checkpoint.pt`` when a matching one exists.

    With ``init_from`` (protocol two_stage), the backbone starts from that pretraining run's
    weights; its config hash must equal ``run["init_config_hash"]``.

    Writes ``model.pt``, ``train_log.csv``, ``val_log.csv`` (the validation curve, a header only
    without validation cases), ``snapshots/`` (not for pretraining runs) and ``run.json``
    (resolved config, versions, git commit, device, wall time, throughput, the point loss's and
    the validation Dice's plateaus, the snapshots). Returns the run record. Under
    ``train.until: plateau`` the run stops at the first validation after which its criteria are
    on their plateau (:func:`morse.engine.loop.plateau_reached`), at most at ``max_iterations``.

    Resuming is exact on CPU: the checkpoint holds the model, the optimizer (with its momentum
    buffers), the iteration, the log and validation rows, the snapshots written and the torch /
    numpy / Python (and CUDA) generator states, and the training samples (order and
    augmentations) are a pure function of the seed and the sample position
    (:func:`morse.data.loading.sampling.infinite_loader` with ``start``); validation consumes no
    random number. A run killed at any point and started again ends with the same ``model.pt``,
    snapshots and ``val_log.csv`` as an uninterrupted one, and the same ``train_log.csv`` except
    for the wall-clock ``seconds`` column. On CUDA see :func:`make_deterministic`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir)
    torch.set_num_threads(threads)
    set_determinism(seed=run["seed"])
    info = read_dataset_info(Path(data_root))
    if not info.splits.get("train"):
        raise ValueError(f"dataset {info.name!r} at {data_root} has an empty training split")
    val_cases = info.splits.get("val", [])
    if run["train"].get("until") == "plateau" and not val_cases:
        raise ValueError(f"run {run_name(run)}: train.until: plateau stops on the validation Dice, but dataset "
                         f"{info.name!r} has no validation cases; give it a val split (split.val_fraction, "
                         "or phantom.n_val_cases for a phantom) or use until: iterations")
    device = select_device(run["device"])
    make_deterministic(device)
    model = build_model(run, info).to(device)
    optimizer = build_optimizer(model, run["train"])
    state = resume_or_initialise(run, model, optimizer, out_dir, init_from)
    batches = training_batches(run, Path(data_root), info, state.iteration, device)
    started_at, started = _utc_now(), time.perf_counter()
    resumed_from, validation_before = state.iteration, state.validation_seconds

    def validate(net: Segmenter) -> float:
        return validation_dice(net, run, Path(data_root), info, device)

    train_iterations(run, model, optimizer, batches, device, state, out_dir, progress,
                     validate if val_cases else None)
    seconds = time.perf_counter() - started
    training_seconds = seconds - (state.validation_seconds - validation_before)
    record = {
        **run_record(run, model, device, state, resumed_from, training_seconds, init_from),
        "validation": validation_record(state.val_rows, len(val_cases), state.iteration, validate_every(run),
                                        state.validation_seconds),
        "data": dataset_record(info, Path(data_root)),
        "started_at": started_at,  # of this (possibly resumed) attempt, UTC
        "finished_at": _utc_now(),
    }
    _write_outputs(out_dir, run, model, state, record)
    return record


def training_batches(
    run: dict[str, Any], data_root: Path, info: DatasetInfo, iteration: int, device: torch.device
) -> Iterator[dict[str, Any]]:
    """The run's training batches from ``iteration`` on (a pure function of the seed)."""
    dataset = training_dataset(run, data_root, info.splits["train"], len(info.class_names))
    batch_size = run["train"]["batch_size"]
    return infinite_loader(
        dataset, batch_size, seed=loader_seed(run), start=iteration * batch_size,
        num_workers=run["train"]["num_workers"], pin_memory=device.type == "cuda",
    )


def _write_outputs(out_dir: Path, run: dict[str, Any], model: Segmenter, state: TrainingState,
                   record: dict[str, Any]) -> None:
    """model.pt (with the iterations trained), train_log.csv, val_log.csv and run.json (each
    atomically), then drop the checkpoint."""
    save_checkpoint(out_dir / "model.pt", {"model": model.state_dict(), "config_hash": run["config_hash"],
                                           "iteration": state.iteration})
    _write_table(out_dir / "train_log.csv", state.log_rows)
    _write_table(out_dir / "val_log.csv", state.val_rows, VAL_LOG_COLUMNS)
    write_json(out_dir / "run.json", record)
    (out_dir / "checkpoint.pt").unlink(missing_ok=True)


def resume_or_initialise(
    run: dict[str, Any], model: Segmenter, optimizer: torch.optim.Optimizer,
    out_dir: Path, init_from: Path | None,
) -> TrainingState:
    """Resume from ``out_dir/checkpoint.pt`` (model, optimiser, rows, RNG states) when it exists;
    otherwise start afresh (removing snapshots an earlier training of the folder left) and,
    under protocol two_stage, load the pretrained backbone from ``init_from``."""
    checkpoint_path = Path(out_dir) / "checkpoint.pt"
    joint = run.get("protocol") == "two_stage" and run["variant"] != "pretrain"
    if checkpoint_path.exists():
        saved = load_checkpoint(checkpoint_path, run["config_hash"])
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        set_rng_state(saved["rng"])
        state = TrainingState.from_checkpoint(saved)
        if joint and "iteration_offset" not in saved:  # a checkpoint written before it was kept
            state.iteration_offset = _pretrained_iterations(run, init_from)
        return state
    clear_snapshots(out_dir)
    if joint:
        if init_from is None:
            raise ValueError(f"run {run_name(run)} uses protocol two_stage but no pretrained model was given")
        initialise_backbone(model, Path(init_from), run.get("init_config_hash"))
        return TrainingState(iteration_offset=_pretrained_iterations(run, init_from))
    return TrainingState()


def _pretrained_iterations(run: dict[str, Any], init_from: Path | None) -> int:
    """The iterations the pretraining run trained (its model.pt's record; for one written before
    that was recorded, or none given, the configured ``pretrain_iterations``)."""
    trained = trained_iterations(Path(init_from)) if init_from is not None else None
    if trained is not None:
        return trained
    return int(run["train"].get("pretrain_iterations") or run["train"]["iterations"])


def run_record(
    run: dict[str, Any], model: Segmenter, device: torch.device, state: TrainingState,
    resumed_from: int, seconds: float, init_from: Path | None,
) -> dict[str, Any]:
    """run.json's content: the resolved config plus provenance, timing (``iterations_per_s``:
    training steps per second of this attempt, validation time excluded), where and why the
    stage ended, the snapshots and the point loss's plateau
    (:func:`morse.evaluation.convergence.point_loss_plateau`; None without a head)."""
    log = state.log_rows
    plateau = None
    if model.has_head and log:
        plateau = point_loss_plateau([r["iteration"] for r in log], [r["point_loss"] for r in log],
                                     state.iteration)
    return {
        **run,
        "device_requested": run["device"],
        "device": describe_device(device),
        "host": execution_host(),
        "machine": machine_info(),
        "wall_time_s": round(state.elapsed_before, 3),
        "iterations_per_s": round((state.iteration - resumed_from) / max(seconds, 1e-9), 4),
        "resumed_from_iteration": resumed_from,
        "iterations_done": state.iteration,
        "stop_reason": state.stop_reason,
        "init_from": str(init_from) if init_from else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "git_commit": git_commit(),
        "versions": package_versions(),
        "final_loss": log[-1]["loss"] if log else math.nan,
        "point_loss_plateau": plateau,
        "snapshots": state.snapshots,
    }


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete temporary files a killed run left behind (``atomic_path`` siblings such as
    ``.tmp-<hex>-checkpoint.pt``, also in ``snapshots/``); one run folder is only ever written by
    one run at a time."""
    for name in ("checkpoint.pt", "model.pt", "train_log.csv", "val_log.csv", "run.json"):
        for stale in out_dir.glob(f".tmp-*-{name}"):
            stale.unlink(missing_ok=True)
    for stale in (out_dir / SNAPSHOT_DIR).glob(".tmp-*"):
        stale.unlink(missing_ok=True)
