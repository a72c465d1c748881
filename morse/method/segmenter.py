"""Segmenter: any backbone (contract in baselines/registry.py) plus the point-rendering head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from morse.method.config import HeadConfig
from morse.method.experts import ConcatFusion, DenseExpertFusion, ScaleExperts
from morse.method.fourier import FourierFeatures
from morse.method.point_heads import PointHead, PointwiseExpertHead
from morse.method.sampling import (
    calculate_uncertainty,
    importance_sample_points,
    point_sample,
    sample_labels,
    uncertain_grid_points,
)


class Segmenter(nn.Module):
    """Backbone + (optional) point head; one code path for 2D and 3D.

    Training (``self.training``): ``forward(x, target)`` returns ``(coarse_logits, aux_losses)``
    with ``aux_losses = {"point_ce": ...}`` when a head is attached, ``{}`` for the baseline.
    Evaluation: ``forward(x)`` returns the refined logits (the coarse ones without a head).
    After each training forward with a head, :attr:`point_stats` holds detached diagnostics at
    the sampled training points (see :meth:`_point_loss`).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, head: HeadConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.head_config = head
        self.spatial_dims = int(backbone.spatial_dims)
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        self.fusion: nn.Module | None = None
        self.point_head: nn.Module | None = None
        self.point_stats: dict[str, torch.Tensor] = {}
        # False during the head warm-up: the point loss then trains the head only
        self.point_loss_reaches_backbone = True
        self.backbone_memory_format = torch.contiguous_format
        if not head.has_head:
            return
        if num_classes < 2:
            raise ValueError("the point head needs num_classes >= 2 (uncertainty uses top-2 logits)")
        channels = list(backbone.feature_channels)
        num_levels, max_dropped = head.experts(len(channels))
        self.num_levels = num_levels
        channels = channels[len(channels) - num_levels:]
        width = head.expert_width

        def make_head(out_channels: int | None) -> PointHead:
            fourier = None
            if head.head_type == "implicit":
                fourier = FourierFeatures(
                    self.spatial_dims, head.fourier_features, head.fourier_init, head.fourier_scale
                )
            return PointHead(width, num_classes, head.point_head_layers, out_channels, fourier)

        if head.fusion == "none":
            self.fusion = ConcatFusion(channels, width, self.spatial_dims)
            self.point_head = make_head(None)
        elif head.fusion == "dense":
            self.fusion = DenseExpertFusion(
                channels,
                width,
                self.spatial_dims,
                head.stochastic_gating,
                max_dropped,
                head.dropout,
                head.gate_resolution,
            )
            self.point_head = make_head(None)
        else:  # pointwise
            self.fusion = ScaleExperts(channels, width, self.spatial_dims)
            self.point_head = PointwiseExpertHead(
                [make_head(width) for _ in range(num_levels)],
                width,
                num_classes,
                head.stochastic_gating,
                max_dropped,
                head.dropout,
            )

    def use_channels_last(self) -> Segmenter:
        """Run the backbone in the channels-last layout (``torch.channels_last`` in 2D,
        ``channels_last_3d`` in 3D): its parameters are converted in place and every input is
        converted before the backbone. Its outputs are returned in the standard layout, so the
        head and everything downstream see the same tensors (float32 round-off apart: convolutions
        sum in another order). State-dict keys, shapes and values are unchanged, so checkpoints
        load either way. Returns ``self``."""
        fmt = torch.channels_last if self.spatial_dims == 2 else torch.channels_last_3d
        self.backbone.to(memory_format=fmt)
        self.backbone_memory_format = fmt
        return self

    def run_backbone(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(coarse logits, feature maps) of the backbone, in the standard contiguous layout
        whatever layout the backbone runs in (see :meth:`use_channels_last`)."""
        if self.backbone_memory_format is torch.contiguous_format:
            return self.backbone(x)
        coarse, features = self.backbone(x.contiguous(memory_format=self.backbone_memory_format))
        return coarse.contiguous(), [f.contiguous() for f in features]

    @property
    def has_head(self) -> bool:
        """True when a point head is attached."""
        return self.point_head is not None

    def _dense_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The dense map the point head reads: fused (B, W, ...) or stacked experts (B, K*W, ...)."""
        assert self.fusion is not None
        dense = self.fusion(features[len(features) - self.num_levels:])
        if self.head_config.fusion == "pointwise":
            dense = dense.flatten(1, 2)
        return dense

    def _point_logits(
        self, dense: torch.Tensor, coarse_points: torch.Tensor, coords: torch.Tensor
    ) -> torch.Tensor:
        """Point-head logits (B, C, P) from the dense map and the coarse logits at the points."""
        assert self.point_head is not None
        return self.point_head(point_sample(dense, coords), coarse_points, coords)

    def forward(
        self, x: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training: (coarse logits, aux losses). Evaluation: refined logits (B, C, *spatial)."""
        coarse, features = self.run_backbone(x)
        if self.training:
            if not self.has_head:
                return coarse, {}
            if target is None:
                raise ValueError("Segmenter.forward needs `target` in training mode for the point loss")
            return coarse, {"point_ce": self._point_loss(coarse, features, target)}
        return self._refine(coarse, features)

    def _point_loss(
        self, coarse: torch.Tensor, features: list[torch.Tensor], target: torch.Tensor
    ) -> torch.Tensor:
        cfg = self.head_config
        if not self.point_loss_reaches_backbone:
            features = [f.detach() for f in features]
            coarse = coarse.detach()
        dense = self._dense_features(features)
        with torch.no_grad():
            coords = importance_sample_points(
                coarse.detach(), cfg.num_points, cfg.oversample_ratio, cfg.importance_ratio
            )
            labels = sample_labels(target, coords)
        coarse_points = point_sample(coarse, coords)
        logits = self._point_logits(dense, coarse_points, coords)
        loss = F.cross_entropy(logits, labels)
        self.point_stats = _point_stats(loss, logits, coarse_points, labels)
        return loss

    def _refine(
        self, coarse: torch.Tensor, features: list[torch.Tensor],
        overwritten: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Subdivision inference; appends each step's overwritten flat indices (B, P) to
        ``overwritten`` when a list is given (the logits do not depend on it)."""
        steps = self.head_config.subdivision_steps
        if not self.has_head or steps == 0:
            return coarse
        dense = self._dense_features(features)
        batch, channels = coarse.shape[:2]
        logits = coarse
        for _ in range(steps):
            index, coords = uncertain_grid_points(
                calculate_uncertainty(logits), self.head_config.subdivision_points
            )
            coords = coords.to(coarse.device)
            point_logits = self._point_logits(dense, point_sample(coarse, coords), coords)
            flat = logits.reshape(batch, channels, -1).scatter(
                2, index.unsqueeze(1).expand(-1, channels, -1), point_logits.to(logits.dtype)
            )
            logits = flat.view_as(coarse)
            if overwritten is not None:
                overwritten.append(index)
        return logits

    @torch.no_grad()
    def predict(
        self, x: torch.Tensor, overwritten: bool = False, refine: bool = True
    ) -> dict[str, torch.Tensor]:
        """Evaluation only: {"coarse": backbone logits, "refined": point-refined logits}.

        With ``overwritten=True`` and a head, also ``"overwritten"``: a (B, S, *spatial) bool mask
        of the cells subdivision step s (of S) overwrote. The point head reads the original
        coarse logits, so every overwritten cell ends with its point prediction. With
        ``refine=False`` only ``"coarse"`` (the same logits; the head does not run).
        """
        if self.training:
            raise RuntimeError("Segmenter.predict is for evaluation; call model.eval() first")
        coarse, features = self.run_backbone(x)
        if not refine:
            return {"coarse": coarse}
        if not overwritten or not self.has_head:
            return {"coarse": coarse, "refined": self._refine(coarse, features)}
        indices: list[torch.Tensor] = []
        refined = self._refine(coarse, features, indices)
        masks = torch.zeros(coarse.shape[0], len(indices), coarse[0, 0].numel(), dtype=torch.bool,
                            device=coarse.device)
        for step, index in enumerate(indices):
            masks[:, step].scatter_(1, index, True)
        return {"coarse": coarse, "refined": refined,
                "overwritten": masks.view(coarse.shape[0], len(indices), *coarse.shape[2:])}

    @torch.no_grad()
    def uncertain_points(self, coarse_logits: torch.Tensor, num_points: int) -> torch.Tensor:
        """Cell-centre coordinates (B, P, d) in [0, 1], ordered (x, y[, z]) like grid_sample, of the
        ``num_points`` most uncertain locations (the first subdivision step's selection)."""
        return uncertain_grid_points(calculate_uncertainty(coarse_logits), num_points)[1]


@torch.no_grad()
def _point_stats(
    loss: torch.Tensor, logits: torch.Tensor, coarse_points: torch.Tensor, labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Detached diagnostics at the training points: the point head's and the coarse logits'
    cross-entropy and accuracy against the sampled labels."""
    coarse_points = coarse_points.float()
    return {
        "point_loss": loss.detach(),
        "point_accuracy": (logits.argmax(1) == labels).float().mean(),
        "coarse_point_loss": F.cross_entropy(coarse_points, labels),
        "coarse_point_accuracy": (coarse_points.argmax(1) == labels).float().mean(),
    }
