"""Building blocks of the point-rendering head, 2D and 3D alike: dimension-generic conv /
BatchNorm / interpolation choices, resizing, 1x1 convolutions as matrix products, pixel MLPs."""

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


class ConvBNReLU(nn.Sequential):
    """k x k conv (no bias) + BatchNorm + ReLU, initialised like mmcv's ConvModule."""

    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int) -> None:
        conv = conv_nd(spatial_dims)(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        super().__init__(conv, batchnorm_nd(spatial_dims)(out_channels), nn.ReLU(inplace=True))


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
