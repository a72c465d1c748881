"""Losses: the coarse 0.5*(CE + soft Dice) and the point-loss weight schedule."""

from __future__ import annotations

import torch
from monai.losses import DiceCELoss
from torch import nn

from morse.method.config import HeadConfig


class CoarseLoss(nn.Module):
    """0.5 * (cross-entropy + soft Dice) on the coarse logits, as the code's SSL4MIS losses.

    Dice: softmax probabilities, one-hot target including background, squared denominators,
    smooth 1e-5 in numerator and denominator, sums over the whole batch, mean over classes.
    Built from MONAI's DiceCELoss (equality with a hand-written reference is tested).
    """

    def __init__(self, smooth: float = 1e-5) -> None:
        super().__init__()
        self.loss = DiceCELoss(
            include_background=True,
            to_onehot_y=True,
            softmax=True,
            squared_pred=True,
            batch=True,
            smooth_nr=smooth,
            smooth_dr=smooth,
            lambda_dice=0.5,
            lambda_ce=0.5,
        )

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """logits (B, C, *spatial), target (B, *spatial) long -> scalar loss."""
        return self.loss(logits, target.unsqueeze(1))


def point_loss_weight(head: HeadConfig, iteration: int, max_iterations: int) -> float:
    """Weight of the point loss at ``iteration`` (0-based) of ``max_iterations``.

    "ramp" (train.py): 0 for the first half, then (t - T/2) / T (0.5 at t = T);
    "constant": ``head.point_loss_weight`` throughout.
    """
    if head.point_loss_schedule == "constant":
        return float(head.point_loss_weight)
    if max_iterations <= 0:
        raise ValueError(f"max_iterations must be positive, got {max_iterations}")
    if iteration < 0.5 * max_iterations:
        return 0.0
    return (iteration - 0.5 * max_iterations) / max_iterations
