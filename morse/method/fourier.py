"""Fourier features of point coordinates (the implicit head's positional encoding)."""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierFeatures(nn.Module):
    """[sin f, cos f] with f = 2*pi*(2p - 1) B, for coordinates p in [0, 1]^d.

    B (d x num_features) is fixed, not trained, and registered as a persistent buffer so it is
    saved in the state_dict. ``init="uniform"`` draws B from U(0, scale) (the public code, scale 1);
    ``init="gaussian"`` from N(0, scale^2) (Tancik et al.). Drawn from the torch global RNG.
    """

    matrix: torch.Tensor

    def __init__(
        self, spatial_dims: int, num_features: int = 128, init: str = "uniform", scale: float = 1.0
    ) -> None:
        super().__init__()
        if init == "uniform":
            matrix = torch.rand(spatial_dims, num_features) * scale
        elif init == "gaussian":
            matrix = torch.randn(spatial_dims, num_features) * scale
        else:
            raise ValueError(f"fourier init must be 'uniform' or 'gaussian', got {init!r}")
        self.register_buffer("matrix", matrix)
        self.out_channels = 2 * num_features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Coordinates (B, P, d) -> features (B, 2F, P)."""
        phase = (2.0 * math.pi) * ((2.0 * coords - 1.0) @ self.matrix)
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1).transpose(1, 2)
