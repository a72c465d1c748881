"""Point sampling: uncertainty, PointRend importance sampling, grid selection, feature lookup.

Coordinates live in [0, 1]^d, last dim ordered like ``grid_sample`` expects: (x, y) in 2D,
(x, y, z) in 3D, where x indexes the last (width) axis. One code path serves 2D and 3D.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def point_sample(inputs: torch.Tensor, coords: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Read ``inputs`` (B, C, *spatial) at ``coords`` (B, P, d) in [0, 1]; returns (B, C, P).

    Uses ``grid_sample`` on 2*coords - 1 with align_corners=False (bilinear in 2D, trilinear in
    3D for ``mode="bilinear"``), zero padding outside, as in PointRend's ``point_sample``.

    The coordinates are never rounded to a half-precision input's dtype (bf16 would move them by
    up to 0.25 px at 256 px): the lookup runs in at least float32, as autocast runs grid_sample
    anyway, so a bf16 or fp16 input gives a float32 result.
    """
    batch, num_points, dims = coords.shape
    if inputs.dim() != dims + 2:
        raise ValueError(f"point_sample: {dims}-d coordinates for a {inputs.dim() - 2}-d input")
    dtype = torch.promote_types(inputs.dtype, torch.float32)
    grid = (2.0 * coords - 1.0).view(batch, num_points, *([1] * (dims - 1)), dims)
    out = F.grid_sample(inputs.to(dtype), grid.to(dtype), mode=mode, align_corners=False)
    return out.view(batch, inputs.shape[1], num_points)


def sample_labels(target: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour labels of ``target`` (B, *spatial) at ``coords`` (B, P, d) -> (B, P) long."""
    values = point_sample(target.unsqueeze(1).to(torch.float32), coords, mode="nearest")
    return values.squeeze(1).round().to(torch.long)


def calculate_uncertainty(logits: torch.Tensor) -> torch.Tensor:
    """-(top1 - top2) over the class dim 1: (B, C, ...) -> (B, 1, ...); larger = less certain."""
    if logits.shape[1] < 2:
        raise ValueError("uncertainty needs at least 2 classes (top-1 minus top-2 logit)")
    top2 = torch.topk(logits, k=2, dim=1).values
    return (top2[:, 1] - top2[:, 0]).unsqueeze(1)


def importance_sample_points(
    coarse_logits: torch.Tensor,
    num_points: int,
    oversample_ratio: float,
    importance_ratio: float,
) -> torch.Tensor:
    """PointRend training points: (B, num_points, d) in [0, 1].

    Draw ``int(num_points * oversample_ratio)`` uniform points, keep the
    ``int(importance_ratio * num_points)`` most uncertain (uncertainty of the bilinearly sampled
    logits) and fill up with uniform random points. Uses the torch global RNG.
    """
    if oversample_ratio < 1:
        raise ValueError(f"oversample_ratio must be >= 1, got {oversample_ratio}")
    if not 0.0 <= importance_ratio <= 1.0:
        raise ValueError(f"importance_ratio must lie in [0, 1], got {importance_ratio}")
    batch, dims, device = coarse_logits.shape[0], coarse_logits.dim() - 2, coarse_logits.device
    num_sampled = int(num_points * oversample_ratio)
    candidates = torch.rand(batch, num_sampled, dims, device=device)
    uncertainty = calculate_uncertainty(point_sample(coarse_logits, candidates))[:, 0]
    num_uncertain = int(importance_ratio * num_points)
    num_random = num_points - num_uncertain
    index = torch.topk(uncertainty, k=num_uncertain, dim=1).indices
    coords = torch.gather(candidates, 1, index.unsqueeze(-1).expand(-1, -1, dims))
    if num_random > 0:
        coords = torch.cat([coords, torch.rand(batch, num_random, dims, device=device)], dim=1)
    return coords


def grid_index_to_coords(index: torch.Tensor, spatial_shape: tuple[int, ...]) -> torch.Tensor:
    """Flat indices (B, P) into ``spatial_shape`` -> cell-centre coordinates (B, P, d), (x, y[, z])."""
    coords = []
    remainder = index
    for size in reversed(spatial_shape):  # x first: the last (fastest) axis
        coords.append(((remainder % size).to(torch.float32) + 0.5) / size)
        remainder = torch.div(remainder, size, rounding_mode="floor")
    return torch.stack(coords, dim=-1)


def uncertain_grid_points(
    uncertainty: torch.Tensor, num_points: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``num_points`` most uncertain cells of ``uncertainty`` (B, 1, *spatial).

    Returns flat indices (B, P) and their cell-centre coordinates (B, P, d), with
    P = min(num_points, number of cells).
    """
    spatial = tuple(uncertainty.shape[2:])
    num_cells = math.prod(spatial)
    num_points = min(num_points, num_cells)
    flat = uncertainty.reshape(uncertainty.shape[0], num_cells)
    index = torch.topk(flat, k=num_points, dim=1).indices
    return index, grid_index_to_coords(index, spatial)
