"""Segmenter: subdivision, gradient flow, checkpoints and short training runs in 2D and 3D."""

from __future__ import annotations

import io

import pytest
import torch
from method_toys import synthetic_batch

from baselines import build_backbone
from morse.method import CoarseLoss, Segmenter, resolve_head_config
from morse.method.sampling import calculate_uncertainty, uncertain_grid_points

SMALL = {"expert_width": 8, "num_points": 96, "subdivision_points": 40, "fourier_features": 8}


def _trained_bn(model: Segmenter, dims: int) -> Segmenter:
    """A couple of training-mode passes so BatchNorm statistics are not the identity."""
    model.train()
    image, target = synthetic_batch(dims, size=8)
    with torch.no_grad():
        for _ in range(2):
            model(image, target)
    return model.eval()


@pytest.mark.parametrize("dims", [2, 3])
def test_subdivision_changes_only_selected_locations(dims, toy_backbone):
    torch.manual_seed(0)
    cfg = resolve_head_config("morse", {**SMALL, "subdivision_steps": 1})
    model = _trained_bn(Segmenter(toy_backbone(dims), 3, cfg), dims)
    image, _ = synthetic_batch(dims, size=8)
    out = model.predict(image)
    coarse, refined = out["coarse"], out["refined"]
    index, _ = uncertain_grid_points(calculate_uncertainty(coarse), 40)
    selected = torch.zeros(coarse.shape[0], coarse[0, 0].numel(), dtype=torch.bool)
    selected.scatter_(1, index, True)
    changed = (refined != coarse).any(dim=1).flatten(1)
    assert not (changed & ~selected).any()  # nothing outside the selection moved
    assert changed.sum() == selected.sum()  # every selected location was overwritten
    assert torch.equal(model(image), refined)
    coords = model.uncertain_points(coarse, 40)
    assert coords.shape == (2, 40, dims) and coords.min() > 0 and coords.max() < 1


def test_zero_steps_and_baseline_return_coarse(toy_backbone):
    torch.manual_seed(0)
    image, _ = synthetic_batch(2, size=8)
    for cfg in (
        resolve_head_config("morse", {**SMALL, "subdivision_steps": 0}),
        resolve_head_config("baseline"),
    ):
        model = _trained_bn(Segmenter(toy_backbone(2), 3, cfg), 2)
        out = model.predict(image)
        assert torch.equal(out["refined"], out["coarse"])
        assert model.has_head == cfg.has_head
    # two steps: still a refinement of at most 2 * subdivision_points locations per image
    model = _trained_bn(Segmenter(toy_backbone(2), 3, resolve_head_config("morse", SMALL)), 2)
    out = model.predict(image)
    changed = (out["refined"] != out["coarse"]).any(dim=1).flatten(1).sum(dim=1)
    assert (changed > 0).all() and (changed <= 80).all()


@pytest.mark.parametrize("fusion", ["dense", "pointwise"])
def test_gradients_reach_every_expert_gate_and_point_head(fusion, toy_backbone):
    torch.manual_seed(0)
    backbone = build_backbone("unet", 1, 3, 2, features=(4, 4, 4, 4, 4, 4))
    cfg = resolve_head_config("morse", {**SMALL, "fusion": fusion, "stochastic_gating": False,
                                        "dropout": 0.0})
    model = Segmenter(backbone, 3, cfg).train()
    image, target = synthetic_batch(2, size=16)
    _, aux = model(image, target)
    aux["point_ce"].backward()
    for name, param in list(model.fusion.named_parameters()) + list(model.point_head.named_parameters()):
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    num_experts = len(backbone.feature_channels)
    experts = model.fusion.experts if fusion == "dense" else model.fusion
    assert experts.num_experts == num_experts == 5
    # the point loss also trains the backbone (features and coarse logits are not detached)
    assert backbone.final_conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("variant,fusion", [("morse", "dense"), ("implicit_pointrend", "none"),
                                            ("morse", "pointwise")])
def test_state_dict_roundtrip_gives_identical_outputs(variant, fusion, toy_backbone):
    cfg = resolve_head_config(variant, {**SMALL, "fusion": fusion})
    torch.manual_seed(0)
    source = _trained_bn(Segmenter(toy_backbone(3), 3, cfg), 3)
    torch.manual_seed(1)
    copy = Segmenter(toy_backbone(3), 3, cfg).eval()
    buffers = [k for k in source.state_dict() if k.endswith("fourier.matrix")]
    assert buffers  # the Fourier matrix B is part of the checkpoint
    assert not torch.equal(source.state_dict()[buffers[0]], copy.state_dict()[buffers[0]])
    stream = io.BytesIO()
    torch.save(source.state_dict(), stream)
    stream.seek(0)
    copy.load_state_dict(torch.load(stream))
    image, _ = synthetic_batch(3, size=8)
    a, b = source.predict(image), copy.predict(image)
    assert torch.equal(a["refined"], b["refined"]) and torch.equal(a["coarse"], b["coarse"])
    assert not torch.equal(a["refined"], a["coarse"])


def _point_ce(model: Segmenter, image: torch.Tensor, target: torch.Tensor) -> float:
    """Point loss with a fixed draw of points, gates and dropout masks (comparable across time)."""
    state = torch.get_rng_state()
    torch.manual_seed(123)
    with torch.no_grad():
        _, aux = model(image, target)
    torch.set_rng_state(state)
    return float(aux["point_ce"]) if aux else 0.0


def _train(model: Segmenter, dims: int, size: int, steps: int) -> tuple[list[float], float, float]:
    """Adam on one fixed batch; returns the total losses and the point loss before and after."""
    image, target = synthetic_batch(dims, size=size)
    loss_fn = CoarseLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    before = _point_ce(model, image, target)
    totals = []
    for _ in range(steps):
        coarse, aux = model(image, target)
        loss = loss_fn(coarse, target) + aux.get("point_ce", torch.zeros(()))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        totals.append(float(loss.detach()))
    return totals, before, _point_ce(model, image, target)


CASES = [("baseline", None), ("pointrend", None), ("implicit_pointrend", None), ("morse", None),
         ("morse_deterministic", None), ("morse", "pointwise"), ("pointrend", "pointwise")]


CASES_3D = [("baseline", None), ("pointrend", None), ("morse", None), ("morse", "pointwise")]


@pytest.mark.parametrize(
    "variant,fusion,dims", [c + (2,) for c in CASES] + [c + (3,) for c in CASES_3D]
)
def test_each_variant_trains_on_a_tiny_problem(variant, fusion, dims, toy_backbone):
    torch.manual_seed(0)
    overrides = dict(SMALL, **({"fusion": fusion} if fusion else {}))
    model = Segmenter(toy_backbone(dims), 3, resolve_head_config(variant, overrides))
    totals, before, after = _train(model, dims, size=12 if dims == 2 else 8, steps=30)
    assert sum(totals[-3:]) < 0.85 * sum(totals[:3]), totals
    if model.has_head:
        assert after < 0.95 * before, (before, after)
    model.eval()
    image, _ = synthetic_batch(dims, size=8)
    assert model(image).shape == (2, 3) + (8,) * dims


@pytest.mark.parametrize("variant", ["baseline", "morse"])
def test_real_unet_trains_with_the_head(variant):
    torch.manual_seed(0)
    backbone = build_backbone("unet", 1, 3, 2, features=(4, 8, 8, 8, 8, 4))
    model = Segmenter(backbone, 3, resolve_head_config(variant, SMALL))
    totals, before, after = _train(model, 2, size=16, steps=20)
    assert sum(totals[-3:]) < 0.9 * sum(totals[:3]), totals
    if variant == "morse":
        assert after < 0.95 * before, (before, after)


def test_invalid_expert_settings_are_rejected(toy_backbone):
    with pytest.raises(ValueError, match="num_experts"):
        Segmenter(toy_backbone(2), 3, resolve_head_config("morse", {"num_experts": 3}))
    with pytest.raises(ValueError, match="max_dropped_experts"):
        Segmenter(toy_backbone(2), 3, resolve_head_config("morse", {"max_dropped_experts": 2}))
    model = Segmenter(toy_backbone(2), 3, resolve_head_config("morse", SMALL)).train()
    with pytest.raises(ValueError, match="target"):
        model(torch.zeros(1, 1, 8, 8))


@pytest.mark.parametrize("variant", ["pointrend", "morse"])
def test_head_warmup_keeps_the_point_loss_out_of_the_backbone(variant, toy_backbone):
    """During the warm-up the point loss trains the head only: no backbone parameter receives
    a gradient from it; afterwards every backbone parameter on its path does."""
    image, target = synthetic_batch(2, size=8)
    grads = {}
    for reaches in (False, True):
        torch.manual_seed(0)
        model = Segmenter(toy_backbone(2), 3, resolve_head_config(variant, {**SMALL, "head_warmup": 10}))
        model.train()
        model.point_loss_reaches_backbone = reaches
        _, aux = model(image, target)
        aux["point_ce"].backward()
        backbone = [p.grad for p in model.backbone.parameters()]
        head = [p.grad for p in model.point_head.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in head)  # the head learns either way
        grads[reaches] = [0.0 if g is None else float(g.abs().sum()) for g in backbone]
    assert grads[False] == [0.0] * len(grads[False])
    assert all(g > 0 for g in grads[True])  # every backbone layer feeds the head's inputs


def test_head_warmup_is_left_out_of_the_run_record_when_zero():
    """Runs made before the option existed keep their recorded head, hence their identity."""
    assert "head_warmup" not in resolve_head_config("morse").to_dict()
    assert resolve_head_config("morse", {"head_warmup": 150}).to_dict()["head_warmup"] == 150
    with pytest.raises(ValueError, match="head_warmup"):
        resolve_head_config("morse", {"head_warmup": -1})


def test_training_step_ends_the_warmup_at_its_iteration(toy_backbone, tmp_path):
    from morse.engine.steps import build_optimizer, training_step

    settings = {"iterations": 20, "lr": 0.01, "lr_power": 0.9, "lr_end_factor": 0.1, "amp": False,
                "momentum": 0.9, "weight_decay": 0.0}
    run = {"dataset": "toy", "backbone": "toy", "variant": "morse", "seed": 0, "train": settings}
    head = resolve_head_config("morse", {**SMALL, "head_warmup": 10})
    model = Segmenter(toy_backbone(2), 3, head).train()
    image, target = synthetic_batch(2, size=8)
    optimizer = build_optimizer(model, settings)
    reached = {}
    for iteration in (0, 9, 10, 19):
        training_step(run, model, optimizer, CoarseLoss(), head, {"image": image, "label": target},
                      iteration, torch.device("cpu"), tmp_path / "last.pt")
        reached[iteration] = model.point_loss_reaches_backbone
    assert reached == {0: False, 9: False, 10: True, 19: True}
