"""The training diagnostics at the sampled points: the head's and the coarse logits' CE/accuracy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from method_toys import synthetic_batch

import morse.method.segmenter as segmenter_module
from morse.method import Segmenter, resolve_head_config
from morse.method.sampling import grid_index_to_coords


def test_point_stats_score_the_coarse_logits_at_the_training_points(toy_backbone, monkeypatch):
    torch.manual_seed(0)
    image, target = synthetic_batch(2, size=8)
    cells = torch.tensor([[0, 9, 27, 36, 63], [1, 18, 28, 45, 62]])  # flat pixel indices
    coords = grid_index_to_coords(cells, (8, 8))  # cell centres: bilinear reads the pixel itself
    monkeypatch.setattr(segmenter_module, "importance_sample_points", lambda *a, **k: coords)
    cfg = resolve_head_config("pointrend", {"expert_width": 8, "num_points": 5})
    model = Segmenter(toy_backbone(2), 3, cfg).train()
    coarse, aux = model(image, target)
    at_cells = torch.gather(coarse.detach().flatten(2), 2, cells[:, None].expand(-1, 3, -1))  # (B, C, P)
    labels = torch.gather(target.flatten(1), 1, cells)
    stats = model.point_stats
    assert float(stats["coarse_point_loss"]) == pytest.approx(float(F.cross_entropy(at_cells, labels)), rel=1e-6)
    expected_accuracy = (at_cells.argmax(1) == labels).float().mean()
    assert float(stats["coarse_point_accuracy"]) == pytest.approx(float(expected_accuracy))
    assert torch.equal(stats["point_loss"], aux["point_ce"].detach())
    with torch.no_grad():  # the head's own logits at the same points (no dropout in this variant)
        _, features = model.backbone(image)
        head_logits = model._point_logits(model._dense_features(features), at_cells, coords)
    assert float(stats["point_accuracy"]) == pytest.approx(float((head_logits.argmax(1) == labels).float().mean()))
    assert float(stats["point_loss"]) == pytest.approx(float(F.cross_entropy(head_logits, labels)), rel=1e-6)
    assert all(not value.requires_grad for value in stats.values())
    baseline = Segmenter(toy_backbone(2), 3, resolve_head_config("baseline")).train()
    baseline(image, target)
    assert baseline.point_stats == {}
