"""Dense experts and stochastic gating."""

from __future__ import annotations

import torch

from morse.method.experts import DenseExpertFusion, drop_random_experts


def test_dropped_count_is_uniform_and_dropped_weights_are_exactly_zero():
    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(2, 5, 3, 3), dim=1)
    counts = torch.zeros(5)
    draws = 2500
    for _ in range(draws):
        out, keep = drop_random_experts(weights, max_dropped=4)
        dropped = (keep == 0).nonzero().flatten()
        counts[len(dropped)] += 1
        assert (out[:, dropped] == 0).all()  # whole batch, every pixel
        kept = keep.bool()
        assert torch.equal(out[:, kept], weights[:, kept])  # no renormalisation
    expected = draws / 5
    assert ((counts - expected).abs() < 0.15 * expected).all(), counts
    # R = 2 of 3 experts (TransUNet): never more than 2 dropped, all counts {0, 1, 2} seen
    seen = {int((drop_random_experts(weights[:, :3], 2)[1] == 0).sum()) for _ in range(200)}
    assert seen == {0, 1, 2}


def _fusion(stochastic: bool) -> DenseExpertFusion:
    return DenseExpertFusion([6, 5, 4], width=8, spatial_dims=2, stochastic=stochastic, max_dropped=2)


def _features() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(2, c, s, s, generator=g) for c, s in ((6, 4), (5, 8), (4, 16))]


def test_eval_mode_is_deterministic_and_uses_every_expert():
    torch.manual_seed(0)
    fusion = _fusion(stochastic=True)
    fusion.train()
    for _ in range(5):  # populate BatchNorm running statistics
        fusion(_features())
    fusion.eval()
    feats = _features()
    with torch.no_grad():
        first = fusion(feats)
        second = fusion(feats)
        weights = fusion.gate_weights(fusion.experts(feats))
    assert torch.equal(first, second)
    assert fusion.last_keep_mask is None
    assert (weights > 0).all()
    assert torch.allclose(weights.sum(dim=1), torch.ones(2, 16, 16))


def test_training_mode_drops_experts_only_when_stochastic():
    torch.manual_seed(0)
    stochastic = _fusion(stochastic=True).train()
    dropped_any = False
    for _ in range(20):
        weights = stochastic.gate_weights(stochastic.experts(_features()))
        keep = stochastic.last_keep_mask
        assert keep is not None
        assert (weights[:, keep == 0] == 0).all()
        dropped_any |= bool((keep == 0).any())
    assert dropped_any
    deterministic = _fusion(stochastic=False).train()
    weights = deterministic.gate_weights(deterministic.experts(_features()))
    assert deterministic.last_keep_mask is None
    assert (weights > 0).all()


def test_gate_is_relu_then_softmax_over_experts():
    torch.manual_seed(0)
    fusion = _fusion(stochastic=False).eval()
    stacked = fusion.experts(_features())
    with torch.no_grad():
        pre = fusion.gate(stacked.flatten(1, 2))
        weights = fusion.gate_weights(stacked)
    assert (pre >= 0).all()  # the ReLU before the softmax (the code's quirk)
    assert torch.allclose(weights, torch.softmax(pre, dim=1))
