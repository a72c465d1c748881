"""The dense gate's first convolution over resized expert maps, computed at the levels' own
resolution where that is cheaper: an exact rewrite of ``conv(cat_k resize(levels[k]))``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from morse.method.layers import _shifted_resize_matrices, conv1x1, separable_resize


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
