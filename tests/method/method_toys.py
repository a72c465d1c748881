"""Helpers for the method tests: a tiny backbone obeying the baselines contract, toy data, and the
float32 comparisons of a fast or compiled path with the plain one."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from morse.method import Segmenter

#: float32 round-off tolerances: only the summation order differs, and weight gradients summed
#: over many pixels reach magnitudes of ~100, so atol is taken on the tensor's own scale.
ATOL, RTOL = 1e-5, 1e-4


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


def assert_float32_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """float32 agreement up to summation order: atol 1e-5 on the tensor's own scale."""
    scale = max(1.0, float(expected.detach().abs().max()))
    torch.testing.assert_close(actual, expected, atol=ATOL * scale, rtol=RTOL)


def _train_outputs(model: Segmenter, image, target):
    model.train()
    torch.manual_seed(5)
    coarse, aux = model(image, target)
    loss = coarse.square().mean() + aux["point_ce"]
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return loss, grads


def assert_same_function(model: Segmenter, reference: Segmenter, image, target) -> None:
    """``model`` and ``reference`` agree up to float32 round-off: training loss and gradients
    (same random draws), then refined logits in evaluation mode."""
    loss_m, grads_m = _train_outputs(model, image, target)
    loss_r, grads_r = _train_outputs(reference, image, target)
    assert_float32_close(loss_m, loss_r)
    for a, e in zip(grads_m, grads_r, strict=True):
        assert_float32_close(a, e)
    model.eval()
    reference.eval()
    assert_float32_close(model.predict(image)["refined"], reference.predict(image)["refined"])
