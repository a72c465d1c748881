"""One training step and one log row: the optimiser, the poly learning rate, the loss terms,
and train_log.csv's row of the steps since the previous one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morse.engine.device import autocast
from morse.method import CoarseLoss, HeadConfig, Segmenter, point_loss_weight

POINT_STAT_COLUMNS = ("point_accuracy", "coarse_point_loss", "coarse_point_accuracy")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def run_name(run: dict[str, Any]) -> str:
    """``dataset/backbone/variant/seed<k>``: how messages name a run."""
    return f"{run['dataset']}/{run['backbone']}/{run['variant']}/seed{run['seed']}"


def poly_lr(base_lr: float, iteration: int, max_iterations: int, power: float, end_factor: float) -> float:
    """Polynomial decay from ``base_lr`` at iteration 0 to ``base_lr * end_factor`` at the end."""
    end_lr = base_lr * end_factor
    progress = min(iteration / max_iterations, 1.0)
    return end_lr + (base_lr - end_lr) * (1.0 - progress) ** power


def build_optimizer(model: Segmenter, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """SGD with momentum and weight decay, as the authors' scripts."""
    return torch.optim.SGD(
        model.parameters(), lr=settings["lr"], momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
    )


def training_step(
    run: dict[str, Any], model: Segmenter, optimizer: torch.optim.Optimizer, coarse_loss_fn: CoarseLoss,
    head: HeadConfig, batch: dict[str, Any], iteration: int, device: torch.device, checkpoint_path: Path,
) -> dict[str, float]:
    """One SGD step on ``batch``: poly learning rate, coarse loss + scheduled point loss, both
    schedules over ``train.iterations`` (under ``until: plateau`` that is ``max_iterations``).

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
    model.point_loss_reaches_backbone = iteration >= head.head_warmup
    with autocast(device, settings["amp"]):
        coarse_logits, aux_losses = model(image, label)
    coarse_loss = coarse_loss_fn(coarse_logits.float(), label)
    weight = point_loss_weight(head, iteration, max_iterations) if aux_losses else 0.0
    point_loss = sum(aux_losses.values()) if aux_losses else torch.zeros((), device=device)
    loss = coarse_loss + weight * point_loss
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"run {run_name(run)}: loss is {loss.item()} at iteration {iteration} "
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
