"""Multi-scale feature fusion: the code's plain FeatureExtractor and the dense mixture of experts.

``ConcatFusion`` is the non-expert path of plain (Implicit) PointRend; ``DenseExpertFusion`` is
MOEHead / MOEHead_random (one expert per decoder level, a 3x3 conv gate, stochastic gating).
``ScaleExperts`` (per-level pixel MLP + upsampling) is shared with the point-wise mixture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from morse.method.gate_conv import conv_of_resized
from morse.method.layers import (
    ConvBNReLU,
    PixelMLP,
    _pointwise_conv,
    conv1x1,
    conv_nd,
    interp_mode,
    resize,
    separable_resize,
)


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


class ScaleExperts(nn.Module):
    """One expert per level: pixel MLP to ``width`` channels, then (bi/tri)linear upsampling
    (align_corners=False) to the size of the last (finest) level. Output (B, K, width, *spatial).
    ``fast`` (attribute, default True) upsamples with :func:`separable_resize`; False uses
    ``F.interpolate`` (the reference)."""

    def __init__(self, in_channels: list[int], width: int, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.width = width
        self.mlps = nn.ModuleList(PixelMLP(c, width, spatial_dims) for c in in_channels)
        self.fast = True

    def resize(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """One map resized to ``size``: :func:`separable_resize` when ``fast``, else :func:`resize`."""
        return (separable_resize if self.fast else resize)(x, size, self.spatial_dims)

    @property
    def num_experts(self) -> int:
        """Number of experts (levels)."""
        return len(self.mlps)

    def levels(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each level's expert map (B, width, *level spatial), at the level's own resolution."""
        if len(features) != len(self.mlps):
            raise ValueError(f"expected {len(self.mlps)} feature maps, got {len(features)}")
        return [mlp(feature) for mlp, feature in zip(self.mlps, features, strict=True)]

    def upsample(self, levels: list[torch.Tensor], size: torch.Size | None = None) -> torch.Tensor:
        """Stack the level maps (B, K, width, *size), resized to ``size`` (default: finest)."""
        size = levels[-1].shape[2:] if size is None else size
        return torch.stack([self.resize(level, size) for level in levels], dim=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Levels (coarse to fine) -> stacked expert maps at the finest level's size."""
        return self.upsample(self.levels(features))


class DenseExpertFusion(nn.Module):
    """MOEHead(_random): per-pixel softmax gate over K scale experts, fused to ``width`` channels.

    gate = two (3x3 conv + BN + ReLU) blocks K*W -> W -> K, softmax over K (the ReLU before the
    softmax is kept, as in the code). In training with ``stochastic`` set, r ~ U{0..max_dropped}
    random experts get weight zero for the whole batch (no renormalisation). The weighted sum goes
    through a pixel MLP (W, W), channel dropout and a 1x1 conv to W channels.

    ``gate_resolution="coarse"`` (opt-in cost knob, not in the paper) runs the gate at the
    second-finest level's size (every expert map resized there) and upsamples the K softmax
    weights (bi/tri)linearly to full size; they still sum to 1 per pixel. ``fast`` (attribute,
    default True) computes the gate's first conv with :func:`conv_of_resized` (same maths); set it
    to False for the straightforward reference path. ``max_dropped`` and ``gate_resolution`` come
    from :meth:`~morse.method.config.HeadConfig.experts`, which checks them against K.
    """

    def __init__(
        self,
        in_channels: list[int],
        width: int,
        spatial_dims: int,
        stochastic: bool,
        max_dropped: int,
        dropout: float = 0.1,
        gate_resolution: str = "full",
    ) -> None:
        super().__init__()
        num_experts = len(in_channels)
        if gate_resolution not in ("full", "coarse"):
            raise ValueError(f"gate_resolution must be 'full' or 'coarse', got {gate_resolution!r}")
        self.spatial_dims = spatial_dims
        self.stochastic = stochastic
        self.max_dropped = max_dropped
        self.gate_resolution = gate_resolution
        self.fast = True
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

    def gate_weights(
        self, stacked: torch.Tensor | None, levels: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Expert weights (B, K, *spatial) for stacked expert maps (B, K, W, *spatial).

        ``levels`` (the expert maps at their own resolutions, ``self.experts.levels``) enable the
        fast gate and are required for ``gate_resolution="coarse"``; with them, ``stacked`` may
        be None when ``fast`` is set (it is then never needed).
        """
        if stacked is None and (levels is None or not self.fast):
            raise ValueError("gate_weights needs the stacked expert maps without the fast path")
        size = levels[-1].shape[2:] if stacked is None else stacked.shape[3:]
        first_conv = self.gate[0][0]
        if self.gate_resolution == "coarse":
            if levels is None:
                raise ValueError("gate_resolution='coarse' needs the per-level expert maps")
            gate_size = levels[-2].shape[2:]
        else:
            gate_size = size
        if levels is not None and self.fast:
            pre = conv_of_resized(levels, first_conv.weight, gate_size, self.spatial_dims)
        elif gate_size != size:
            assert levels is not None
            pre = first_conv(self.experts.upsample(levels, gate_size).flatten(1, 2))
        else:
            pre = first_conv(stacked.flatten(1, 2))
        logits = self.gate[1](self.gate[0][2](self.gate[0][1](pre)))
        weights = resize(torch.softmax(logits, dim=1), size, self.spatial_dims)
        if self.training and self.stochastic:
            weights, keep = drop_random_experts(weights, self.max_dropped)
            self.last_keep_mask = keep
        else:
            self.last_keep_mask = None
        return weights

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Levels (coarse to fine) -> fused map (B, W, *finest spatial)."""
        levels = self.experts.levels(features)
        if self.fast:
            fused = self.weighted_sum(levels, self.gate_weights(None, levels))
        else:
            stacked = self.experts.upsample(levels)
            weights = self.gate_weights(stacked, levels)
            fused = (stacked * weights.unsqueeze(2)).sum(dim=1)
        hidden = self.dropout(self.after_mlp(fused))
        return _pointwise_conv(self.predictor, hidden) if self.fast else self.predictor(hidden)

    def weighted_sum(self, levels: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        """sum_k weights[:, k] * resize(levels[k]) without stacking the K upsampled maps: one
        fused multiply-add (``addcmul``) per expert into the (B, W, *spatial) result."""
        size = weights.shape[2:]
        fused = self.experts.resize(levels[0], size) * weights[:, :1]
        for k in range(1, len(levels)):
            fused = torch.addcmul(fused, self.experts.resize(levels[k], size), weights[:, k:k + 1])
        return fused


class ConcatFusion(nn.Module):
    """The code's non-expert ``FeatureExtractor``: coarse-to-fine residual 1x1 conv, upsample
    (align_corners=True, as in the code), concatenate the next level; a final 1x1 conv (no bias)
    maps the concatenation of all levels to ``width`` channels.

    ``fast`` (attribute, default True) evaluates the same linear map without materialising the
    concatenations: every step (1x1 conv without bias, residual, interpolation, concatenation,
    projection) is linear and interpolation acts on each channel alone, so the final projection
    can be pulled back through the chain. With P = [P_a | P_b] split at the concatenation,
    ``P cat(up(y), f) = up(P_a y) + P_b f`` and ``P_a (x + C x) = (P_a + P_a C) x``; recursively,
    each level is projected to ``width`` channels at its own resolution and only ``width``-channel
    maps are upsampled. ``fast = False`` runs the code's straightforward loop (reference).
    """

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
        self.fast = True

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Levels (coarse to fine) -> fused map (B, W, *finest spatial)."""
        if len(features) != len(self.convs) + 1:
            raise ValueError(f"expected {len(self.convs) + 1} feature maps, got {len(features)}")
        if self.fast:
            return self._forward_fast(features)
        x = features[0]
        for conv, nxt in zip(self.convs, features[1:], strict=True):
            x = conv(x) + x
            x = F.interpolate(
                x, size=nxt.shape[2:], mode=interp_mode(self.spatial_dims), align_corners=True
            )
            x = torch.cat([x, nxt], dim=1)
        return self.project(x)

    def _forward_fast(self, features: list[torch.Tensor]) -> torch.Tensor:
        dims = self.spatial_dims
        q = self.project.weight.flatten(1)  # maps the current concatenation to width channels
        per_level = [q] * len(features)
        for k in range(len(features) - 1, 0, -1):  # pull the projection back, fine to coarse
            split = q.shape[1] - features[k].shape[1]
            q_prev, per_level[k] = q[:, :split], q[:, split:]
            q = q_prev + q_prev @ self.convs[k - 1].weight.flatten(1)
        per_level[0] = q
        out = conv1x1(features[0], per_level[0])
        for nxt, w in zip(features[1:], per_level[1:], strict=True):
            out = F.interpolate(out, size=nxt.shape[2:], mode=interp_mode(dims), align_corners=True)
            out = out + conv1x1(nxt, w)
        return out
