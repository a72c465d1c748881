"""Helpers for the method tests: a tiny backbone obeying the baselines contract, toy data."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ToyBackbone(nn.Module):
    """Two-level encoder-decoder: features 12 @ 1/2 and 8 @ full resolution (coarse to fine)."""

    def __init__(self, in_channels: int, num_classes: int, spatial_dims: int) -> None:
        super().__init__()
        conv = {2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
        self.spatial_dims = spatial_dims
        self.feature_channels = [12, 8]
        self.enc = conv(in_channels, 8, 3, padding=1)
        self.down = conv(8, 12, 3, stride=2, padding=1)
        self.dec = conv(12 + 8, 8, 3, padding=1)
        self.out = conv(8, num_classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        e = torch.relu(self.enc(x))
        d = torch.relu(self.down(e))
        mode = "bilinear" if self.spatial_dims == 2 else "trilinear"
        u = F.interpolate(d, size=e.shape[2:], mode=mode, align_corners=False)
        f = torch.relu(self.dec(torch.cat([u, e], dim=1)))
        return self.out(f), [d, f]


def synthetic_batch(
    spatial_dims: int, size: int = 16, batch: int = 2, num_classes: int = 3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of two nested boxes (classes 1, 2) on background, with noise."""
    g = torch.Generator().manual_seed(seed)
    target = torch.zeros((batch,) + (size,) * spatial_dims, dtype=torch.long)
    for b in range(batch):
        lo = int(torch.randint(1, size // 4, (1,), generator=g))
        hi = size - int(torch.randint(1, size // 4, (1,), generator=g))
        box = (slice(b, b + 1),) + (slice(lo, hi),) * spatial_dims
        target[box] = 1
        inner = (slice(b, b + 1),) + (slice(lo + 2, hi - 2),) * spatial_dims
        target[inner] = num_classes - 1
    image = target.unsqueeze(1).float() + 0.3 * torch.randn(target.unsqueeze(1).shape, generator=g)
    return image, target
