"""Multi-scale feature fusion: the code's plain FeatureExtractor and the dense mixture of experts.

``ConcatFusion`` is the non-expert path of plain (Implicit) PointRend; ``DenseExpertFusion`` is
MOEHead / MOEHead_random (one expert per decoder level, a 3x3 conv gate, stochastic gating).
``ScaleExperts`` (per-level pixel MLP + upsampling) is shared with the point-wise mixture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_nd(spatial_dims: int) -> type[nn.Module]:
    """nn.Conv2d or nn.Conv3d."""
    return {2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]


def batchnorm_nd(spatial_dims: int) -> type[nn.Module]:
    """nn.BatchNorm2d or nn.BatchNorm3d."""
    return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[spatial_dims]


def interp_mode(spatial_dims: int) -> str:
    """'bilinear' in 2D, 'trilinear' in 3D."""
    return {2: "bilinear", 3: "trilinear"}[spatial_dims]


def drop_random_experts(
    weights: torch.Tensor, max_dropped: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stochastic gating: zero the weights of r distinct random experts, r ~ U{0..max_dropped}.

    ``weights`` is (B, K, ...); the same experts are dropped for the whole batch and the others are
    not renormalised (as MOEHead_random). Returns the new weights and the (K,) keep mask.
    Uses the torch global RNG.
    """
    num_experts = weights.shape[1]
    if not 0 <= max_dropped <= num_experts:
        raise ValueError(f"max_dropped must lie in [0, {num_experts}], got {max_dropped}")
    num_dropped = int(torch.randint(0, max_dropped + 1, (1,)).item())
    dropped = torch.randperm(num_experts)[:num_dropped]
    keep = torch.ones(num_experts, dtype=weights.dtype)
    keep[dropped] = 0.0
    keep = keep.to(weights.device)
    shape = (1, num_experts) + (1,) * (weights.dim() - 2)
    return weights * keep.view(shape), keep


class PixelMLP(nn.Sequential):
    """Per-pixel MLP as 1x1 convolutions: in -> width -> width, ReLU after each layer."""

    def __init__(self, in_channels: int, width: int, spatial_dims: int) -> None:
        conv = conv_nd(spatial_dims)
        super().__init__(
            conv(in_channels, width, kernel_size=1),
            nn.ReLU(inplace=True),
            conv(width, width, kernel_size=1),
            nn.ReLU(inplace=True),
        )


class ScaleExperts(nn.Module):
    """One expert per level: pixel MLP to ``width`` channels, then (bi/tri)linear upsampling
    (align_corners=False) to the size of the last (finest) level. Output (B, K, width, *spatial)."""

    def __init__(self, in_channels: list[int], width: int, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.width = width
        self.mlps = nn.ModuleList(PixelMLP(c, width, spatial_dims) for c in in_channels)

    @property
    def num_experts(self) -> int:
        """Number of experts (levels)."""
        return len(self.mlps)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Levels (coarse to fine) -> stacked expert maps at the finest level's size."""
        if len(features) != len(self.mlps):
            raise ValueError(f"expected {len(self.mlps)} feature maps, got {len(features)}")
        size = features[-1].shape[2:]
        scaled = []
        for mlp, feature in zip(self.mlps, features, strict=True):
            out = mlp(feature)
            if out.shape[2:] != size:
                out = F.interpolate(
                    out, size=size, mode=interp_mode(self.spatial_dims), align_corners=False
                )
            scaled.append(out)
        return torch.stack(scaled, dim=1)


class ConvBNReLU(nn.Sequential):
    """k x k conv (no bias) + BatchNorm + ReLU, initialised like mmcv's ConvModule."""

    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int) -> None:
        conv = conv_nd(spatial_dims)(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        super().__init__(conv, batchnorm_nd(spatial_dims)(out_channels), nn.ReLU(inplace=True))


class DenseExpertFusion(nn.Module):
    """MOEHead(_random): per-pixel softmax gate over K scale experts, fused to ``width`` channels.

    gate = two (3x3 conv + BN + ReLU) blocks K*W -> W -> K, softmax over K (the ReLU before the
    softmax is kept, as in the code). In training with ``stochastic`` set, r ~ U{0..max_dropped}
    random experts get weight zero for the whole batch (no renormalisation). The weighted sum goes
    through a pixel MLP (W, W), channel dropout and a 1x1 conv to W channels.
    """

    def __init__(
        self,
        in_channels: list[int],
        width: int,
        spatial_dims: int,
        stochastic: bool,
        max_dropped: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        num_experts = len(in_channels)
        self.stochastic = stochastic
        self.max_dropped = max_dropped
        self.experts = ScaleExperts(in_channels, width, spatial_dims)
        self.gate = nn.Sequential(
            ConvBNReLU(num_experts * width, width, spatial_dims),
            ConvBNReLU(width, num_experts, spatial_dims),
        )
        self.after_mlp = PixelMLP(width, width, spatial_dims)
        self.dropout = {2: nn.Dropout2d, 3: nn.Dropout3d}[spatial_dims](dropout)
        self.predictor = conv_nd(spatial_dims)(width, width, kernel_size=1)
        self.out_channels = width
        self.last_keep_mask: torch.Tensor | None = None

    def gate_weights(self, stacked: torch.Tensor) -> torch.Tensor:
        """Expert weights (B, K, *spatial) for stacked expert maps (B, K, W, *spatial)."""
        weights = torch.softmax(self.gate(stacked.flatten(1, 2)), dim=1)
        if self.training and self.stochastic:
            weights, keep = drop_random_experts(weights, self.max_dropped)
            self.last_keep_mask = keep
        else:
            self.last_keep_mask = None
        return weights

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Levels (coarse to fine) -> fused map (B, W, *finest spatial)."""
        stacked = self.experts(features)
        weights = self.gate_weights(stacked)
        fused = (stacked * weights.unsqueeze(2)).sum(dim=1)
        return self.predictor(self.dropout(self.after_mlp(fused)))


class ConcatFusion(nn.Module):
    """The code's non-expert ``FeatureExtractor``: coarse-to-fine residual 1x1 conv, upsample
    (align_corners=True, as in the code), concatenate the next level; a final 1x1 conv (no bias)
    maps the concatenation of all levels to ``width`` channels."""

    def __init__(self, in_channels: list[int], width: int, spatial_dims: int) -> None:
        super().__init__()
        conv = conv_nd(spatial_dims)
        self.spatial_dims = spatial_dims
        self.convs = nn.ModuleList()
        channels = in_channels[0]
        for nxt in in_channels[1:]:
            self.convs.append(conv(channels, channels, kernel_size=1, bias=False))
            channels += nxt
        self.project = conv(channels, width, kernel_size=1, bias=False)
        self.out_channels = width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Levels (coarse to fine) -> fused map (B, W, *finest spatial)."""
        if len(features) != len(self.convs) + 1:
            raise ValueError(f"expected {len(self.convs) + 1} feature maps, got {len(features)}")
        x = features[0]
        for conv, nxt in zip(self.convs, features[1:], strict=True):
            x = conv(x) + x
            x = F.interpolate(
                x, size=nxt.shape[2:], mode=interp_mode(self.spatial_dims), align_corners=True
            )
            x = torch.cat([x, nxt], dim=1)
        return self.project(x)
