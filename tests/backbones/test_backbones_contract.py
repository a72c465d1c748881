"""Every built-in backbone honours the contract in baselines/registry.py (tiny CPU configs)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from baselines import available_backbones, build_backbone, get_backbone_spec
from baselines.input_sizes import BUILTIN_FEATURE_LEVELS, BUILTIN_OPTION_CHECKS
from morse.method import CoarseLoss, Segmenter, resolve_head_config

# name -> (spatial dims, options of a tiny config, input shape (B, C, *spatial), feature strides)
TINY: dict[str, tuple[int, dict[str, Any], tuple[int, ...], list[int]]] = {
    "transunet": (2, {"size": "small", "img_size": 32, "dropout_rate": 0.0}, (2, 1, 32, 32), [16, 8, 4, 2, 1]),
    "vnet": (3, {"dropout_prob_down": 0.0, "dropout_prob_up": (0.0, 0.0)}, (2, 1, 16, 16, 16), [8, 4, 2, 1]),
    "unetr": (3, {"img_size": 16, "size": "small"}, (2, 1, 16, 16, 16), [4, 2, 1]),
    # batch norm: at 32^3 the bottleneck is 1 voxel, where instance norm cannot train
    "swinunetr": (
        3,
        {"feature_size": 12, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 1, 1), "window_size": 4, "norm_name": "batch"},
        (2, 1, 32, 32, 32),
        [16, 8, 4, 2, 1],
    ),
}
NUM_CLASSES = 3


def _batch(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    target = (x[:, 0] > 0).long() + (x[:, 0] > 1).long()
    return x, target


def _build(name: str) -> torch.nn.Module:
    dims, options, _, _ = TINY[name]
    torch.manual_seed(0)
    return build_backbone(name, 1, NUM_CLASSES, dims, **options)


def test_all_builtin_backbones_are_registered() -> None:
    assert set(TINY) | {"unet"} <= set(available_backbones())
    for name, (dims, _, _, _) in TINY.items():
        assert get_backbone_spec(name).spatial_dims == (dims,)


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_strides_and_gradient(name: str) -> None:
    dims, _, shape, strides = TINY[name]
    model = _build(name)
    assert model.spatial_dims == dims
    assert all(s % model.size_divisor == 0 for s in shape[2:])
    x, _ = _batch(shape)
    logits, features = model(x)
    assert logits.shape == (shape[0], NUM_CLASSES, *shape[2:])
    assert len(features) == len(model.feature_channels) == len(strides)
    # what the config check counts the experts against, without building the network
    assert BUILTIN_FEATURE_LEVELS[name](TINY[name][1]) == len(model.feature_channels)
    for feature, channels, stride in zip(features, model.feature_channels, strides, strict=True):
        assert feature.shape == (shape[0], channels, *(s // stride for s in shape[2:]))
    (logits.sum() + sum(f.mean() for f in features)).backward()
    first = next(p for p in model.parameters() if p.ndim >= 2)
    assert first.grad is not None and torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(TINY))
def test_rejects_wrong_dimensionality(name: str) -> None:
    dims = TINY[name][0]
    with pytest.raises(ValueError, match=f"{5 - dims}D"):
        build_backbone(name, 1, NUM_CLASSES, 5 - dims)


@pytest.mark.parametrize("variant", ["baseline", "morse"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_trains_three_iterations_with_decreasing_loss(name: str, variant: str) -> None:
    shape = TINY[name][2]
    head = resolve_head_config(variant, {"expert_width": 8, "num_points": 32, "subdivision_points": 64})
    model = Segmenter(_build(name), NUM_CLASSES, head)
    x, target = _batch(shape)
    coarse_loss = CoarseLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(1)
    losses = []
    model.train()
    for _ in range(3):
        logits, aux = model(x, target)
        loss = coarse_loss(logits, target) + sum(aux.values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert ("point_ce" in aux) == (variant == "morse")
    assert losses[-1] < losses[0], losses
    model.eval()
    refined = model(x)
    assert refined.shape == (shape[0], NUM_CLASSES, *shape[2:])


def test_builtin_input_size_rules_are_the_builders_own() -> None:
    """The torch-free table the config check reads holds exactly the built-ins' own rules."""
    from baselines.input_sizes import BUILTIN_INPUT_SIZE_CHECKS
    from baselines.registry import BUILTIN_SPATIAL_DIMS

    own = {name: getattr(get_backbone_spec(name).builder, "input_size_problem", None)
           for name in BUILTIN_SPATIAL_DIMS}  # fmt: skip
    assert {n: f for n, f in own.items() if f is not None} == BUILTIN_INPUT_SIZE_CHECKS
    assert BUILTIN_INPUT_SIZE_CHECKS["unetr"]([96, 96, 96], {}) is None
    assert "img_size [96, 96, 96]" in BUILTIN_INPUT_SIZE_CHECKS["unetr"]([32, 32, 32], {})


@pytest.mark.parametrize("size", [32, 30])  # 30: 15 -> 7 px down, 7 -> 14 up, padded to 15
def test_unet_upcat_matches_monai_with_and_without_padding(size: int) -> None:
    """The UNet's UpCat skips only the all-zero replicate padding (for torch.compile): outputs
    and gradients equal MONAI's own UpCat.forward, including when a side must be padded."""
    from monai.networks.nets.basic_unet import UpCat

    torch.manual_seed(0)
    model = build_backbone("unet", 1, NUM_CLASSES, 2)
    x, _ = _batch((2, 1, size, size))
    x1 = model.down_1(model.conv_0(x))
    x2 = model.down_2(x1)
    needs_pad = 2 * x2.shape[-1] != x1.shape[-1]
    assert needs_pad == (size == 30)
    ours = model.upcat_2(x2, x1)
    monai = UpCat.forward(model.upcat_2, x2, x1)
    assert ours.shape == (2, 32, size // 2, size // 2)
    assert torch.equal(ours, monai)
    grads = [torch.autograd.grad(out.square().sum(), list(model.upcat_2.parameters()))
             for out in (ours, monai)]
    for ours_grad, monai_grad in zip(*grads, strict=True):
        assert torch.equal(ours_grad, monai_grad)


@pytest.mark.parametrize(("name", "dims", "options", "accepted", "rejected"), [
    ("unet", 2, {}, 16, 8),
    ("transunet", 2, {"size": "small", "img_size": 32}, 48, 40),
    ("vnet", 3, {}, 16, 24),
    ("swinunetr", 3, {"feature_size": 12}, 64, 48),
])
def test_input_size_rules_match_what_the_network_takes(name, dims, options, accepted, rejected) -> None:
    """Each rule accepts a size the network trains on and rejects one it fails on, so the config
    check stops before the first job what the first training step would have stopped."""
    from baselines.input_sizes import BUILTIN_INPUT_SIZE_CHECKS

    rule = BUILTIN_INPUT_SIZE_CHECKS[name]
    assert rule([accepted] * dims, options) is None
    assert f"patch_size is {[rejected] * dims}" in rule([rejected] * dims, options)
    torch.manual_seed(0)
    net = build_backbone(name, 1, 3, dims, **options).train()
    coarse, _ = net(torch.randn(2, 1, *([accepted] * dims)))
    assert coarse.shape[2:] == (accepted,) * dims
    with pytest.raises((RuntimeError, ValueError)):
        net(torch.randn(2, 1, *([rejected] * dims)))


def test_unet_option_rule_matches_what_the_network_takes() -> None:
    """The UNet's feature maps (5, as the config check counts them) and its `features` rule:
    six widths build, two fail inside MONAI without naming the key, which the rule does."""
    rule = BUILTIN_OPTION_CHECKS["unet"]
    widths = [8, 8, 16, 16, 32, 8]
    assert rule({"features": widths}) is None and rule({}) is None
    net = build_backbone("unet", 1, NUM_CLASSES, 2, features=widths)
    assert len(net.feature_channels) == BUILTIN_FEATURE_LEVELS["unet"]({"features": widths}) == 5
    assert "features must be six positive integers" in rule({"features": [16, 32]})
    with pytest.raises(ValueError, match="length 6"):
        build_backbone("unet", 1, NUM_CLASSES, 2, features=[16, 32])
