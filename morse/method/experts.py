"""Multi-scale feature fusion: the code's plain FeatureExtractor and the dense mixture of experts.

``ConcatFusion`` is the non-expert path of plain (Implicit) PointRend; ``DenseExpertFusion`` is
MOEHead / MOEHead_random (one expert per decoder level, a 3x3 conv gate, stochastic gating).
``ScaleExperts`` (per-level pixel MLP + upsampling) is shared with the point-wise mixture.
"""

from __future__ import annotations

import math

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


def resize(x: torch.Tensor, size: torch.Size, spatial_dims: int) -> torch.Tensor:
    """(Bi/tri)linear resize with align_corners=False; identity when the size already matches."""
    if x.shape[2:] == size:
        return x
    return F.interpolate(x, size=size, mode=interp_mode(spatial_dims), align_corners=False)


def separable_resize(x: torch.Tensor, size: torch.Size, spatial_dims: int) -> torch.Tensor:
    """:func:`resize` as one small matrix product per axis (same weights, float32 round-off).

    (Bi/tri)linear resizing is a composition of 1-D linear resizes, each a matrix R (n_out x
    n_in, torch's own weights: :func:`_shifted_resize_matrices` with one tap), so the forward
    and the backward are GEMMs instead of the scatter-style ``upsample_*_backward`` (about 4x
    cheaper, fwd + bwd, for the expert maps of a UNet at 96 px on 2 CPU cores)."""
    if x.shape[2:] == size:
        return x
    out = x
    for axis in reversed(range(spatial_dims)):
        n_in, n_out = out.shape[2 + axis], int(size[axis])
        if n_in == n_out:
            continue
        matrix = _shifted_resize_matrices(n_in, n_out, 1, out)[0]
        if axis == spatial_dims - 1:
            out = out @ matrix.T
        else:  # contract axis with the rows of R: (..., n_in, rest) -> (..., n_out, rest)
            lead, rest = out.shape[:2 + axis], out.shape[3 + axis:]
            out = (matrix @ out.reshape(*lead, n_in, math.prod(rest))).view(*lead, n_out, *rest)
    return out


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


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1x1 (x1) convolution as one batched matrix product: (B, C, *spatial) -> (B, O, *spatial);
    ``weight`` is (O, C) or a conv weight (O, C, 1, ...).

    Same arithmetic as ``F.conv2d/3d(x, weight, bias)`` up to float32 summation order, but a
    plain GEMM forward and backward: on CPU, oneDNN's float32 1x1 convolution in NCHW is markedly
    slower than the same product as a matrix multiplication."""
    batch, out_channels = x.shape[0], weight.shape[0]
    rows = x.flatten(2)  # (B, C, N), a view of a contiguous map
    matrix = weight.flatten(1).expand(batch, -1, -1)
    if bias is None:
        out = torch.bmm(matrix, rows)
    else:
        out = torch.baddbmm(bias.view(1, -1, 1).expand(batch, -1, rows.shape[2]), matrix, rows)
    return out.view(batch, out_channels, *x.shape[2:])


def _pointwise_conv(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` for a 1x1 conv module, through :func:`conv1x1`."""
    return conv1x1(x, module.weight, module.bias)


class PixelMLP(nn.Sequential):
    """Per-pixel MLP as 1x1 convolutions: in -> width -> width, ReLU after each layer.
    ``fast`` (attribute, default True) runs the convolutions as :func:`conv1x1`."""

    def __init__(self, in_channels: int, width: int, spatial_dims: int) -> None:
        conv = conv_nd(spatial_dims)
        super().__init__(
            conv(in_channels, width, kernel_size=1),
            nn.ReLU(inplace=True),
            conv(width, width, kernel_size=1),
            nn.ReLU(inplace=True),
        )
        self.fast = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, *spatial) -> (B, width, *spatial)."""
        if not self.fast:
            return super().forward(x)
        # ReLU out of place: in place on the GEMM output's view, autograd would copy the whole
        # map back in the backward (CopySlices)
        for module in self:
            x = _pointwise_conv(module, x) if isinstance(module, nn.Conv2d | nn.Conv3d) else torch.relu(x)
        return x


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


def conv_of_resized(
    levels: list[torch.Tensor], weight: torch.Tensor, size: torch.Size, spatial_dims: int
) -> torch.Tensor:
    """``conv(cat_k resize(levels[k], size), weight, padding=kernel // 2)`` (no bias), cheaply.

    Exact rewrite, not an approximation: (bi/tri)linear resizing acts on each channel alone, so it
    commutes with any channel-mixing map. A k x k conv is a sum over its taps t of
    ``shift_t(W_t u)``, hence ``conv(resize(e)) = sum_t shift_t(resize(W_t e))``: each tap's
    channel mixing runs at the level's own (coarse) resolution instead of the output's. A level
    is resized first and convolved directly instead when that takes fewer multiply-adds
    (:func:`_direct_is_cheaper`: levels at least as large as ``size``, and narrow levels at half
    its size, e.g. width 32 at 48 -> 96 px). Resize and shift are applied per axis as small
    matrices (:func:`_resize_shift_sum`), whose rows outside the map are zero: the conv's zero
    padding. Odd kernels (padding k // 2), as the gate's 3 x 3.
    """
    conv = {2: F.conv2d, 3: F.conv3d}[spatial_dims]
    kernel = tuple(weight.shape[2:])
    pad = [k // 2 for k in kernel]
    out_channels = weight.shape[0]
    direct_x, direct_w, coarse = [], [], []
    start = 0
    for level in levels:
        channels = level.shape[1]
        w = weight[:, start:start + channels]
        start += channels
        if _direct_is_cheaper(tuple(level.shape[1:]), tuple(size), tuple(weight.shape[:1]) + kernel):
            direct_x.append(separable_resize(level, size, spatial_dims))
            direct_w.append(w)
        else:
            coarse.append((level, w))
    if start != weight.shape[1]:
        raise ValueError(f"levels have {start} channels, the conv expects {weight.shape[1]}")
    out = None
    if direct_x:
        x = direct_x[0] if len(direct_x) == 1 else torch.cat(direct_x, dim=1)
        w = direct_w[0] if len(direct_w) == 1 else torch.cat(direct_w, dim=1)
        out = conv(x, w, padding=pad)
    if not coarse:
        assert out is not None
        return out
    taps = math.prod(kernel)
    for level, w in coarse:  # one 1x1 conv per level computes every tap's channel mixing
        per_tap = w.permute(*range(2, 2 + spatial_dims), 0, 1).reshape(taps * out_channels, -1)
        mixed = conv1x1(level, per_tap).unflatten(1, (*kernel, out_channels))
        shifted = _resize_shift_sum(mixed, size, spatial_dims)
        out = shifted if out is None else out + shifted
    assert out is not None
    return out


def _direct_is_cheaper(level: tuple[int, ...], size: tuple[int, ...], weight: tuple[int, ...]) -> bool:
    """Whether :func:`conv_of_resized` should resize a level (C, *low) to ``size`` and convolve
    it there (direct) rather than mix its taps at its own resolution and resize-shift them
    (:func:`_resize_shift_sum`), for a conv weight of shape (O, k_1, ..., k_d): the path with
    fewer multiply-adds per sample. Always direct for a level at least as large as ``size``."""
    channels, low = level[0], level[1:]
    out_channels, kernel = weight[0], weight[1:]
    if math.prod(low) >= math.prod(size):
        return True
    taps = math.prod(kernel)
    direct = math.prod(size) * channels * out_channels * taps
    coarse = math.prod(low) * channels * out_channels * taps
    for axis in reversed(range(len(low))):  # the per-axis products, last axis first
        before, after = math.prod(low[:axis]), math.prod(size[axis + 1:])
        if low[axis] != size[axis]:
            direct += channels * before * size[axis] * after * low[axis]
        coarse += (out_channels * math.prod(kernel[:axis]) * before * size[axis] * after
                   * kernel[axis] * low[axis])
    return direct <= coarse


def _shifted_resize_matrices(
    n_in: int, n_out: int, kernel: int, like: torch.Tensor
) -> torch.Tensor:
    """(kernel, n_out, n_in): M_t = shift_t(R) with R the 1-D linear resize (align_corners=False)
    from n_in to n_out samples, and shift_t reading row p + t - kernel // 2 (zero outside), as a
    zero-padded conv tap does. R is obtained by resizing the identity, so its weights are torch's."""
    eye = torch.eye(n_in, dtype=like.dtype, device=like.device).unsqueeze(1)
    if n_in == n_out:
        resize_matrix = eye[:, 0]
    else:
        resize_matrix = F.interpolate(eye, size=n_out, mode="linear", align_corners=False)[:, 0].T
    half = kernel // 2
    padded = F.pad(resize_matrix, (0, 0, half, half))
    return torch.stack([padded[t:t + n_out] for t in range(kernel)])


_TAPS, _LOW, _OUT = "ijk", "xyz", "XYZ"


def _resize_shift_sum(mixed: torch.Tensor, size: torch.Size, spatial_dims: int) -> torch.Tensor:
    """sum over taps t of shift_t(resize(mixed[:, t])), as one small matmul per axis.

    ``mixed`` is (B, k_1, ..., k_d, O, *low spatial): each tap's channel-mixed map. (Bi/tri)linear
    resizing is the composition of 1-D linear resizes along each axis (same per-axis indices and
    weights), and a shift along one axis commutes with resizing along another, so the tap sum
    factorises: along each axis, contract (tap offset, low index) with the matrices
    ``M_t = shift_t(R)`` of :func:`_shifted_resize_matrices`. Nothing full-size is padded, copied
    per tap or zero-filled.
    """
    kernel = tuple(mixed.shape[1:1 + spatial_dims])
    low = tuple(mixed.shape[2 + spatial_dims:])
    taps, lows, outs = _TAPS[:spatial_dims], _LOW[:spatial_dims], _OUT[:spatial_dims]
    cur = mixed
    current = "b" + taps + "o" + lows
    for axis in reversed(range(spatial_dims)):
        matrices = _shifted_resize_matrices(low[axis], int(size[axis]), kernel[axis], mixed)
        new = current.replace(taps[axis], "").replace(lows[axis], outs[axis])
        cur = torch.einsum(f"{current},{taps[axis]}{outs[axis]}{lows[axis]}->{new}", cur, matrices)
        current = new
    return cur


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
