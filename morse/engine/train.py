"""The training loop: one run = one dataset x backbone x variant x seed."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from monai.utils import set_determinism
from torch.utils.data import Dataset
from tqdm import tqdm

from baselines import build_backbone
from morse.common import atomic_path
from morse.data.loading.patches3d import PatchDataset
from morse.data.loading.sampling import infinite_loader
from morse.data.loading.slices2d import SliceDataset
from morse.data.prepared.format import DatasetInfo, read_dataset_info
from morse.data.sources.fingerprint import dataset_record
from morse.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from morse.engine.device import autocast, describe_device, select_device
from morse.engine.provenance import execution_host, git_commit, machine_info, package_versions
from morse.evaluation.convergence import point_loss_plateau
from morse.method import CoarseLoss, HeadConfig, Segmenter, point_loss_weight


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def poly_lr(base_lr: float, iteration: int, max_iterations: int, power: float, end_factor: float) -> float:
    """Polynomial decay from ``base_lr`` at iteration 0 to ``base_lr * end_factor`` at the end."""
    end_lr = base_lr * end_factor
    progress = min(iteration / max_iterations, 1.0)
    return end_lr + (base_lr - end_lr) * (1.0 - progress) ** power


def build_model(run: dict[str, Any], info: DatasetInfo) -> Segmenter:
    """The Segmenter (backbone + head) a resolved run config describes; its ``head_config`` is
    the run's :class:`HeadConfig`, built here once from the run config's JSON form."""
    backbone = build_backbone(
        run["backbone"],
        in_channels=len(info.modalities),
        num_classes=len(info.class_names),
        spatial_dims=run["spatial_dims"],
        **run["backbone_options"],
    )
    model = Segmenter(backbone, len(info.class_names), HeadConfig(**run["head"]))
    if run.get("train", {}).get("channels_last", False):
        model.use_channels_last()
    if run.get("train", {}).get("compile", False):
        model.compile()  # in place: state_dict keys and checkpoints unchanged
    return model


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


def initialise_backbone(model: Segmenter, path: Path, expected_hash: str | None) -> int:
    """Load the backbone weights of a pretraining run's ``model.pt`` into ``model.backbone``.

    Only ``backbone.*`` tensors are taken (the authors' ``--resume`` does the same); every
    backbone tensor must be present with the same shape. Returns the number of tensors loaded.
    """
    state = load_checkpoint(Path(path), expected_hash)["model"]
    prefix = "backbone."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    own = model.backbone.state_dict()
    missing = sorted(set(own) - set(weights))
    mismatched = sorted(k for k in own if k in weights and weights[k].shape != own[k].shape)
    if missing or mismatched:
        raise ValueError(
            f"{path} does not fit this backbone: missing {missing[:5]}, shape mismatch "
            f"{mismatched[:5]}; was it trained with another backbone or backbone options?"
        )
    model.backbone.load_state_dict(weights)
    return len(weights)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


@dataclass
class TrainingState:
    """What a resumed run carries on: the next iteration, the log so far, the steps since the
    last log row (their values are averaged into the next row), the wall time spent."""

    iteration: int = 0
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    elapsed_before: float = 0.0
    pending: list[dict[str, float]] = field(default_factory=list)


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

    Writes ``model.pt``, ``train_log.csv`` and ``run.json`` (resolved config, versions, git
    commit, device, wall time, throughput, the point loss's plateau). Returns the run record.

    Resuming is exact on CPU: the checkpoint holds the model, the optimizer (with its momentum
    buffers), the iteration, the log rows and the torch / numpy / Python (and CUDA) generator
    states, and the training samples (order and augmentations) are a pure function of the seed
    and the sample position (:func:`morse.data.loading.sampling.infinite_loader` with
    ``start``). A run killed at any point and started again ends with the same ``model.pt`` as
    an uninterrupted one, and the same ``train_log.csv`` except for the wall-clock ``seconds``
    column. On CUDA see :func:`make_deterministic` for what to expect.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out_dir)
    torch.set_num_threads(threads)
    set_determinism(seed=run["seed"])
    info = read_dataset_info(Path(data_root))
    if not info.splits.get("train"):
        raise ValueError(f"dataset {info.name!r} at {data_root} has an empty training split")
    device = select_device(run["device"])
    make_deterministic(device)
    model = build_model(run, info).to(device)
    optimizer = build_optimizer(model, run["train"])
    checkpoint_path = out_dir / "checkpoint.pt"
    state = resume_or_initialise(run, model, optimizer, checkpoint_path, init_from)
    batches = training_batches(run, Path(data_root), info, state.iteration, device)
    started_at, started = _utc_now(), time.perf_counter()
    resumed_from = state.iteration
    _train_iterations(run, model, optimizer, batches, device, state, checkpoint_path, progress)
    seconds = time.perf_counter() - started
    record = {
        **run_record(run, model, device, state, resumed_from, seconds, init_from),
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
    """model.pt, train_log.csv and run.json (each atomically), then drop the checkpoint."""
    save_checkpoint(out_dir / "model.pt", {"model": model.state_dict(), "config_hash": run["config_hash"]})
    _write_log(out_dir / "train_log.csv", state.log_rows)
    write_json(out_dir / "run.json", record)
    (out_dir / "checkpoint.pt").unlink(missing_ok=True)


def build_optimizer(model: Segmenter, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """SGD with momentum and weight decay, as the authors' scripts."""
    return torch.optim.SGD(
        model.parameters(), lr=settings["lr"], momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
    )


def resume_or_initialise(
    run: dict[str, Any], model: Segmenter, optimizer: torch.optim.Optimizer,
    checkpoint_path: Path, init_from: Path | None,
) -> TrainingState:
    """Resume from ``checkpoint_path`` (model, optimiser, log, RNG states) when it exists;
    otherwise, under protocol two_stage, load the pretrained backbone from ``init_from``."""
    if checkpoint_path.exists():
        saved = load_checkpoint(checkpoint_path, run["config_hash"])
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        set_rng_state(saved["rng"])
        return TrainingState(saved["iteration"], list(saved["log"]), saved["elapsed_s"],
                             list(saved.get("pending", [])))
    if run.get("protocol") == "two_stage" and run["variant"] != "pretrain":
        if init_from is None:
            raise ValueError(f"run {_run_name(run)} uses protocol two_stage but no pretrained model was given")
        initialise_backbone(model, Path(init_from), run.get("init_config_hash"))
    return TrainingState()


def _train_iterations(
    run: dict[str, Any], model: Segmenter, optimizer: torch.optim.Optimizer, batches: Iterator[dict[str, Any]],
    device: torch.device, state: TrainingState, checkpoint_path: Path, progress: bool,
) -> None:
    """Iterations ``state.iteration`` .. end: step, log every ``log_every``, checkpoint every
    ``checkpoint_every`` (after the step and its log row: resuming starts at the next one)."""
    settings = run["train"]
    max_iterations = settings["iterations"]
    coarse_loss_fn = CoarseLoss()
    model.train()
    started = time.perf_counter()
    bar = tqdm(range(state.iteration, max_iterations), desc=_run_name(run), disable=not progress,
               initial=state.iteration, total=max_iterations, unit="it")
    for iteration in bar:
        losses = training_step(run, model, optimizer, coarse_loss_fn, model.head_config, next(batches),
                               iteration, device, checkpoint_path)
        done = iteration + 1
        elapsed = state.elapsed_before + time.perf_counter() - started
        state.pending.append(step_values(losses, model.point_stats))
        if done % settings["log_every"] == 0 or done == max_iterations:
            state.log_rows.append(log_row(done, state.pending, elapsed))
            state.pending = []
            bar.set_postfix(loss=f"{state.log_rows[-1]['loss']:.4f}")
        if done % settings["checkpoint_every"] == 0 and done < max_iterations:
            save_checkpoint(checkpoint_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "iteration": done, "log": state.log_rows, "pending": state.pending, "rng": rng_state(),
                "elapsed_s": elapsed, "config_hash": run["config_hash"],
            })
    state.iteration = max_iterations
    state.elapsed_before += time.perf_counter() - started


def training_step(
    run: dict[str, Any], model: Segmenter, optimizer: torch.optim.Optimizer, coarse_loss_fn: CoarseLoss,
    head: HeadConfig, batch: dict[str, Any], iteration: int, device: torch.device, checkpoint_path: Path,
) -> dict[str, float]:
    """One SGD step on ``batch``: poly learning rate, coarse loss + scheduled point loss.

    Returns the loss terms as floats (``loss, coarse_loss, point_loss, point_weight, lr``);
    raises :class:`NonFiniteLossError` (before the update) when the loss is NaN or infinite.
    """
    settings = run["train"]
    max_iterations = settings["iterations"]
    lr = poly_lr(settings["lr"], iteration, max_iterations, settings["lr_power"], settings["lr_end_factor"])
    for group in optimizer.param_groups:
        group["lr"] = lr
    image = batch["image"].to(device, non_blocking=True)
    label = batch["label"].to(device, non_blocking=True)
    with autocast(device, settings["amp"]):
        coarse_logits, aux_losses = model(image, label)
    coarse_loss = coarse_loss_fn(coarse_logits.float(), label)
    weight = point_loss_weight(head, iteration, max_iterations) if aux_losses else 0.0
    point_loss = sum(aux_losses.values()) if aux_losses else torch.zeros((), device=device)
    loss = coarse_loss + weight * point_loss
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"run {_run_name(run)}: loss is {loss.item()} at iteration {iteration} "
            f"(coarse {coarse_loss.item()}, point {float(point_loss.detach())}); the last good checkpoint "
            f"({checkpoint_path if checkpoint_path.exists() else 'none yet'}) is kept. "
            + (_non_finite_inputs(batch, image)
               or "Lower train.lr or check the data for NaN values.")
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "coarse_loss": coarse_loss.item(),
            "point_loss": float(point_loss.detach()), "point_weight": weight, "lr": lr}


POINT_STAT_COLUMNS = ("point_accuracy", "coarse_point_loss", "coarse_point_accuracy")


def step_values(losses: dict[str, float], point_stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """One step's loss terms and its point diagnostics (NaN without a head), as floats."""
    stats = {name: float(point_stats[name]) if name in point_stats else math.nan
             for name in POINT_STAT_COLUMNS}
    return {**losses, **stats}


def log_row(done: int, steps: list[dict[str, float]], seconds: float) -> dict[str, Any]:
    """One train_log.csv row for the ``steps`` since the previous row (``log_every`` of them):
    the means of their losses and of the point diagnostics at their sampled training points
    (the point head's accuracy, the coarse logits' cross-entropy and accuracy); ``point_weight``
    and ``lr`` of the last step. Means over the interval, not one batch: the plateau criterion
    fits a line to these rows, and single-batch point losses are noisy."""
    mean = {name: float(np.mean([s[name] for s in steps]))
            for name in ("loss", "coarse_loss", "point_loss", *POINT_STAT_COLUMNS)}
    return {"iteration": done, "loss": mean["loss"], "coarse_loss": mean["coarse_loss"],
            "point_loss": mean["point_loss"], **{n: mean[n] for n in POINT_STAT_COLUMNS},
            "point_weight": steps[-1]["point_weight"], "lr": steps[-1]["lr"], "seconds": seconds}


def run_record(
    run: dict[str, Any], model: Segmenter, device: torch.device, state: TrainingState,
    resumed_from: int, seconds: float, init_from: Path | None,
) -> dict[str, Any]:
    """run.json's content: the resolved config plus provenance, timing and the point loss's
    plateau (:func:`morse.evaluation.convergence.point_loss_plateau`; None without a head)."""
    log = state.log_rows
    plateau = None
    if model.has_head and log:
        plateau = point_loss_plateau([r["iteration"] for r in log], [r["point_loss"] for r in log],
                                     run["train"]["iterations"])
    return {
        **run,
        "device_requested": run["device"],
        "device": describe_device(device),
        "host": execution_host(),
        "machine": machine_info(),
        "wall_time_s": round(state.elapsed_before, 3),
        "iterations_per_s": round((state.iteration - resumed_from) / max(seconds, 1e-9), 4),
        "resumed_from_iteration": resumed_from,
        "init_from": str(init_from) if init_from else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "git_commit": git_commit(),
        "versions": package_versions(),
        "final_loss": log[-1]["loss"] if log else math.nan,
        "point_loss_plateau": plateau,
    }


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete temporary files a killed run left behind (``atomic_path`` siblings such as
    ``.tmp-<hex>-checkpoint.pt``); one run folder is only ever written by one run at a time."""
    for name in ("checkpoint.pt", "model.pt", "train_log.csv", "run.json"):
        for stale in out_dir.glob(f".tmp-*-{name}"):
            stale.unlink(missing_ok=True)


def _non_finite_inputs(batch: dict[str, Any], image: torch.Tensor) -> str:
    """Which samples of the batch have NaN/Inf input values ("" if none)."""
    finite = torch.isfinite(image.detach()).flatten(1).all(dim=1).cpu().tolist()
    bad = [i for i, ok in enumerate(finite) if not ok]
    if not bad:
        return ""
    cases, slices = batch.get("case"), batch.get("slice")
    where = []
    for i in bad:
        name = f"case {cases[i]!r}" if cases is not None else f"sample {i}"
        if slices is not None:
            name += f" slice {int(slices[i])}"
        where.append(name)
    return (f"The input images contain NaN or infinite values ({', '.join(where)}); "
            "check or re-run the prepare step for that data.")


def _run_name(run: dict[str, Any]) -> str:
    return f"{run['dataset']}/{run['backbone']}/{run['variant']}/seed{run['seed']}"
