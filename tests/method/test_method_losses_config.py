"""Coarse loss, point-loss schedule and head configuration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from morse.method import VARIANTS, CoarseLoss, HeadConfig, point_loss_weight, resolve_head_config


def ssl4mis_reference(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 * (CE + SSL4MIS DiceLoss(softmax probabilities, one-hot target)), written out by hand."""
    num_classes = logits.shape[1]
    probs = torch.softmax(logits, dim=1)
    dice = 0.0
    for i in range(num_classes):
        score, onehot = probs[:, i], (target == i).float()
        smooth = 1e-5
        intersect = torch.sum(score * onehot)
        y_sum = torch.sum(onehot * onehot)
        z_sum = torch.sum(score * score)
        dice = dice + 1 - (2 * intersect + smooth) / (z_sum + y_sum + smooth)
    return 0.5 * (F.cross_entropy(logits, target) + dice / num_classes)


@pytest.mark.parametrize("shape", [(3, 4, 9, 7), (2, 3, 4, 5, 6)])
def test_coarse_loss_equals_ssl4mis_reference(shape):
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(shape, generator=g, dtype=torch.float64)
    target = torch.randint(0, shape[1] - 1, (shape[0],) + shape[2:], generator=g)  # one class absent
    ours = CoarseLoss()(logits, target)
    ref = ssl4mis_reference(logits, target)
    # MONAI one-hot encodes the target in float32 and forms p.g from squared norms, so the two
    # agree to float32 round-off, not bit for bit
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-7), (ours, ref)
    ours32 = CoarseLoss()(logits.float(), target)
    assert torch.allclose(ours32.double(), ref, rtol=1e-5), (ours32, ref)
    # and it is not just CE: the Dice half matters
    assert not torch.allclose(ours, 0.5 * F.cross_entropy(logits, target), rtol=1e-3)


def test_point_loss_weight_ramp_and_constant():
    ramp = HeadConfig()
    t_max = 1000
    assert point_loss_weight(ramp, 0, t_max) == 0.0
    assert point_loss_weight(ramp, t_max // 2 - 1, t_max) == 0.0
    assert point_loss_weight(ramp, t_max // 2, t_max) == 0.0
    assert point_loss_weight(ramp, 3 * t_max // 4, t_max) == pytest.approx(0.25)
    assert point_loss_weight(ramp, t_max, t_max) == pytest.approx(0.5)
    const = HeadConfig(point_loss_schedule="constant", point_loss_weight=0.7)
    assert point_loss_weight(const, 0, t_max) == 0.7
    assert point_loss_weight(const, t_max, t_max) == 0.7


def test_variants_resolve_to_expected_heads():
    assert set(VARIANTS) == {"baseline", "pointrend", "implicit_pointrend", "morse", "morse_deterministic"}
    assert not resolve_head_config("baseline").has_head
    assert resolve_head_config("pointrend").head_type == "standard"
    assert resolve_head_config("pointrend").fusion == "none"
    assert resolve_head_config("implicit_pointrend").head_type == "implicit"
    morse = resolve_head_config("morse", {"num_experts": 3})
    assert (morse.head_type, morse.fusion, morse.stochastic_gating, morse.num_experts) == (
        "implicit", "dense", True, 3)
    assert not resolve_head_config("morse_deterministic").stochastic_gating
    assert HeadConfig().to_dict()["fourier_features"] == 128


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown variant 'nope'.*morse_deterministic"):
        resolve_head_config("nope")
    with pytest.raises(ValueError, match="'num_point'.*num_points"):
        resolve_head_config("morse", {"num_point": 5})
    with pytest.raises(ValueError, match="fusion.*'dense'"):
        HeadConfig(fusion="sparse")
    with pytest.raises(ValueError, match="importance_ratio"):
        HeadConfig(importance_ratio=1.5)
    with pytest.raises(ValueError, match="num_points"):
        HeadConfig(num_points=20.5)
    with pytest.raises(ValueError, match="max_dropped_experts"):
        HeadConfig(num_experts=3, max_dropped_experts=3)


def test_expert_count_rules_hold_whether_k_is_given_or_set_by_the_backbone():
    assert HeadConfig().experts(feature_levels=4) == (4, 3)  # one expert per level, K - 1 droppable
    assert HeadConfig(num_experts=3, max_dropped_experts=1).experts(feature_levels=5) == (3, 1)
    dropped = r"max_dropped_experts must be <= num_experts - 1 \(1\) so that one expert always survives, got 2"
    with pytest.raises(ValueError, match=dropped):
        HeadConfig(num_experts=2, max_dropped_experts=2)  # at config check time
    with pytest.raises(ValueError, match=dropped):
        HeadConfig(max_dropped_experts=2).experts(feature_levels=2)  # when the backbone sets K
    with pytest.raises(ValueError, match="num_experts=3 but the backbone has only 2 feature levels"):
        HeadConfig(num_experts=3).experts(feature_levels=2)
