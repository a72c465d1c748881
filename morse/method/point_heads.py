"""Point heads: the shared MLP that labels sampled points, and the point-wise mixture of experts."""

from __future__ import annotations

import torch
from torch import nn

from morse.method.experts import drop_random_experts
from morse.method.fourier import FourierFeatures


class PointHead(nn.Module):
    """PointRend's point MLP as 1x1 conv1d layers, coarse logits concatenated to every layer input.

    Standard head (``fourier=None``): input [fine features (F_in), coarse logits (C)], hidden width
    F_in, MSRA-initialised layers and an N(0, 0.001) predictor (StandardPointHead).
    Implicit head: Fourier features of the coordinate are put in front of the fine features and the
    hidden width is F_in + 2*num_fourier; default PyTorch initialisation (ImplicitPointHead).
    The predictor outputs ``out_channels`` (the number of classes, or a feature width for the
    class-agnostic heads of the point-wise mixture).
    """

    def __init__(
        self,
        feature_channels: int,
        num_classes: int,
        num_layers: int = 3,
        out_channels: int | None = None,
        fourier: FourierFeatures | None = None,
    ) -> None:
        super().__init__()
        self.fourier = fourier
        out_channels = num_classes if out_channels is None else out_channels
        width = feature_channels + (fourier.out_channels if fourier is not None else 0)
        self.layers = nn.ModuleList()
        in_channels = width + num_classes
        for _ in range(num_layers):
            self.layers.append(nn.Conv1d(in_channels, width, kernel_size=1))
            in_channels = width + num_classes
        self.predictor = nn.Conv1d(in_channels, out_channels, kernel_size=1)
        if fourier is None:  # StandardPointHead's initialisation (c2_msra_fill + small predictor)
            for layer in self.layers:
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)
            nn.init.normal_(self.predictor.weight, std=0.001)
            nn.init.zeros_(self.predictor.bias)

    def forward(
        self, features: torch.Tensor, coarse: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """features (B, F_in, P), coarse logits (B, C, P), coords (B, P, d) -> (B, out, P)."""
        x = features
        if self.fourier is not None:
            x = torch.cat([self.fourier(coords).to(features.dtype), x], dim=1)
        x = torch.cat([x, coarse], dim=1)
        for layer in self.layers:
            x = torch.cat([torch.relu(layer(x)), coarse], dim=1)
        return self.predictor(x)


class PointwiseExpertHead(nn.Module):
    """PointRendSepMoE: one class-agnostic point head per scale, mixed at the points.

    Input features are the K expert maps (each ``width`` channels) sampled at the points and
    concatenated, (B, K*width, P). Each head maps its scale to ``width`` values; a gate of
    (1x1 conv1d + BN + ReLU) twice (K*width -> num_classes -> K) and a softmax over K weights them;
    the weighted sum goes through an MLP (width, width, ReLU), channel dropout and a linear
    predictor to the classes. Optional stochastic gating as in the dense mixture.
    """

    def __init__(
        self,
        heads: list[PointHead],
        width: int,
        num_classes: int,
        stochastic: bool,
        max_dropped: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        num_experts = len(heads)
        self.width = width
        self.stochastic = stochastic
        self.max_dropped = max_dropped
        self.heads = nn.ModuleList(heads)
        self.gate = nn.Sequential(
            nn.Conv1d(num_experts * width, num_classes, kernel_size=1),
            nn.BatchNorm1d(num_classes),
            nn.ReLU(inplace=True),
            nn.Conv1d(num_classes, num_experts, kernel_size=1),
            nn.BatchNorm1d(num_experts),
            nn.ReLU(inplace=True),
        )
        self.after_mlp = nn.Sequential(
            nn.Conv1d(width, width, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv1d(width, width, kernel_size=1),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout1d(dropout)
        self.predictor = nn.Conv1d(width, num_classes, kernel_size=1)
        self.last_keep_mask: torch.Tensor | None = None

    def forward(
        self, features: torch.Tensor, coarse: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """features (B, K*width, P), coarse (B, C, P), coords (B, P, d) -> logits (B, C, P)."""
        batch, _, num_points = features.shape
        per_scale = features.view(batch, len(self.heads), self.width, num_points)
        outs = torch.stack(
            [head(per_scale[:, i], coarse, coords) for i, head in enumerate(self.heads)], dim=1
        )
        weights = torch.softmax(self.gate(outs.flatten(1, 2)), dim=1)
        if self.training and self.stochastic:
            weights, self.last_keep_mask = drop_random_experts(weights, self.max_dropped)
        else:
            self.last_keep_mask = None
        mixed = (outs * weights.unsqueeze(2)).sum(dim=1)
        return self.predictor(self.dropout(self.after_mlp(mixed)))
