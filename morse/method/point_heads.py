"""Point heads: the shared MLP that labels sampled points, and the point-wise mixture of experts.

Both have a ``fast`` attribute (default True for the point head, False for the mixture): the same
maths as the straightforward 1x1-conv1d code (``fast = False``, the reference), laid out for
matrix multiplication (:func:`grouped_point_mlp`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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

        self.fast = True

    def forward(
        self, features: torch.Tensor, coarse: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """features (B, F_in, P), coarse logits (B, C, P), coords (B, P, d) -> (B, out, P)."""
        if self.fast:
            batch, _, num_points = features.shape
            out = grouped_point_mlp(
                [self], _points_major(features).unsqueeze(0), _points_major(coarse),
                coords.reshape(batch * num_points, -1),
            )[0]
            return out.view(batch, num_points, -1).transpose(1, 2)
        x = features
        if self.fourier is not None:
            x = torch.cat([self.fourier(coords).to(features.dtype), x], dim=1)
        x = torch.cat([x, coarse], dim=1)
        for layer in self.layers:
            x = torch.cat([torch.relu(layer(x)), coarse], dim=1)
        return self.predictor(x)


def _points_major(x: torch.Tensor) -> torch.Tensor:
    """(B, C, P) -> (B*P, C): one row per point, the layout of a matrix product."""
    return x.transpose(1, 2).reshape(-1, x.shape[1])


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack along a new first dim (a view when there is only one)."""
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)


def grouped_point_mlp(
    heads: list[PointHead], features: torch.Tensor, coarse: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """G point heads of one shape as batched matrix products: (G, N, F_in) -> (G, N, out).

    ``features`` holds each head's own input rows, ``coarse`` (N, C) and ``coords`` (N, d) are
    shared. Exactly :meth:`PointHead.forward` per head, rearranged: a layer applied to
    ``cat([h, coarse])`` is ``W_h h + W_c coarse + b``. Each layer's output starts as its bias
    plus the small product with the C coarse-logit columns (one ``baddbmm``) and the big product
    is accumulated into it in place (``baddbmm_``): no concatenation, split or strided copy of
    an (N, width) tensor, each layer one call over the G heads (the point-wise mixture's K scale
    heads together), and the Fourier features, which need no gradient, get their own product
    instead of a gradient row per point.
    """
    first = heads[0]
    num_classes = coarse.shape[1]
    layers = [list(head.layers) + [head.predictor] for head in heads]
    coarse_rows = coarse.unsqueeze(0).expand(len(heads), *coarse.shape)
    h = features
    for i in range(len(layers[0])):
        weight = _stack([hl[i].weight[:, :, 0] for hl in layers])  # (G, out, in)
        bias = _stack([hl[i].bias for hl in layers]).unsqueeze(1)  # (G, 1, out)
        out = torch.baddbmm(bias, coarse_rows, weight[:, :, -num_classes:].transpose(1, 2))
        if i == 0 and first.fourier is not None:
            fourier_matrix = _stack([head.fourier.matrix for head in heads])  # (G, d, F)
            phase = (2.0 * math.pi) * torch.matmul(2.0 * coords - 1.0, fourier_matrix)
            fourier = torch.cat([torch.sin(phase), torch.cos(phase)], dim=2).to(features.dtype)
            out.baddbmm_(fourier, weight[:, :, :fourier.shape[2]].transpose(1, 2))
            weight = weight[:, :, fourier.shape[2]:]
        out.baddbmm_(h, weight[:, :, :h.shape[2]].transpose(1, 2))
        if i + 1 < len(layers[0]):
            h = torch.relu_(out)
    return out


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
        # The grouped path is exact but slower on CPU than the per-expert heads: off by default.
        self.fast = False

    def _gate_and_drop(self, weights: torch.Tensor) -> torch.Tensor:
        """Stochastic gating (training) of softmax weights (B, K, P); records the keep mask."""
        if self.training and self.stochastic:
            weights, self.last_keep_mask = drop_random_experts(weights, self.max_dropped)
        else:
            self.last_keep_mask = None
        return weights

    def forward(
        self, features: torch.Tensor, coarse: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """features (B, K*width, P), coarse (B, C, P), coords (B, P, d) -> logits (B, C, P)."""
        if self.fast:
            return self._forward_fast(features, coarse, coords)
        batch, _, num_points = features.shape
        per_scale = features.view(batch, len(self.heads), self.width, num_points)
        outs = torch.stack(
            [head(per_scale[:, i], coarse, coords) for i, head in enumerate(self.heads)], dim=1
        )
        weights = self._gate_and_drop(torch.softmax(self.gate(outs.flatten(1, 2)), dim=1))
        mixed = (outs * weights.unsqueeze(2)).sum(dim=1)
        return self.predictor(self.dropout(self.after_mlp(mixed)))

    def _forward_fast(
        self, features: torch.Tensor, coarse: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """The same maths with one row per point: the K scale heads in one grouped product
        (:func:`grouped_point_mlp`), the 1x1 conv1d layers as matrix products (BatchNorm1d
        normalises (N, C) rows over the same B*P samples), and the same random draws in the
        same order (stochastic gating, then channel dropout on the (B, width, P) view)."""
        batch, _, num_points = features.shape
        num_experts = len(self.heads)
        rows = batch * num_points
        per_scale = features.view(batch, num_experts, self.width, num_points)
        per_scale = per_scale.permute(1, 0, 3, 2).reshape(num_experts, rows, self.width)
        outs = grouped_point_mlp(
            list(self.heads), per_scale, _points_major(coarse), coords.reshape(rows, -1)
        )  # (K, N, width)
        x = outs.transpose(0, 1).reshape(rows, num_experts * self.width)
        for module in self.gate:
            x = _pointwise_layer(module, x)
        weights = torch.softmax(x, dim=1)  # (N, K)
        weights = self._gate_and_drop(weights.view(batch, num_points, -1).transpose(1, 2))
        weights = weights.transpose(1, 2).reshape(rows, num_experts)
        mixed = (outs * weights.t().unsqueeze(2)).sum(dim=0)  # (N, width)
        for module in self.after_mlp:
            mixed = _pointwise_layer(module, mixed)
        mixed = self.dropout(mixed.view(batch, num_points, -1).transpose(1, 2)).transpose(1, 2)
        out = F.linear(mixed, self.predictor.weight[:, :, 0], self.predictor.bias)
        return out.transpose(1, 2)


def _pointwise_layer(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A (B, C, P) layer (1x1 Conv1d, BatchNorm1d, ReLU) applied to (N, C) rows."""
    if isinstance(module, nn.Conv1d):
        return F.linear(x, module.weight[:, :, 0], module.bias)
    return module(x)
