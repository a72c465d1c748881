"""The fast paths of the head compute the same function as the straightforward code.

Every optimisation in morse/method keeps the maths: each is compared here with the plain version
(the ``fast = False`` reference path of the module, or a direct torch call) at the same seed, in
float32, forward values and gradients. Tolerance: rtol 1e-4 and atol 1e-5 times the tensor's
largest magnitude (at least 1): only the summation order differs, and weight gradients summed
over many pixels reach magnitudes of ~100. Also the opt-in ``gate_resolution`` knob: "full" is the faithful gate, "coarse" keeps
the weights a partition of unity and drops experts exactly.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from method_toys import assert_float32_close, synthetic_batch

from morse.method import HeadConfig, Segmenter, resolve_head_config
from morse.method.experts import ConcatFusion, DenseExpertFusion
from morse.method.gate_conv import _direct_is_cheaper, conv_of_resized
from morse.method.layers import conv1x1, resize, separable_resize


def _levels(spatial_dims: int, requires_grad: bool = False) -> list[torch.Tensor]:
    """Four levels, coarse to fine, channels 12/10/6/4, factors 1/8 (2D) or 1/4 (3D) .. 1."""
    g = torch.Generator().manual_seed(3)
    sizes = (2, 4, 8, 16) if spatial_dims == 2 else (2, 3, 6, 8)  # 3 -> 8 is a non-integer factor
    return [
        torch.randn(2, c, *([s] * spatial_dims), generator=g).requires_grad_(requires_grad)
        for c, s in zip((12, 10, 6, 4), sizes, strict=True)
    ]


def _reference(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` (same weights) with every fast path switched off."""
    ref = copy.deepcopy(module)
    for sub in ref.modules():
        if hasattr(sub, "fast"):
            sub.fast = False
    return ref


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("target", ["finest", "second"])
def test_conv_of_resized_equals_conv_of_concatenated_resized_maps(spatial_dims, kernel, target):
    levels = _levels(spatial_dims, requires_grad=True)
    size = levels[-1 if target == "finest" else -2].shape[2:]  # "second": the finest is shrunk
    g = torch.Generator().manual_seed(4)
    fan_in = 32 * kernel**spatial_dims  # unit-scale outputs, like an initialised conv
    weight = torch.randn(5, 32, *([kernel] * spatial_dims), generator=g) / fan_in**0.5
    weight.requires_grad_(True)
    conv = {2: F.conv2d, 3: F.conv3d}[spatial_dims]
    expected = conv(
        torch.cat([resize(x, size, spatial_dims) for x in levels], dim=1), weight, padding=kernel // 2
    )
    actual = conv_of_resized(levels, weight, size, spatial_dims)
    if kernel == 3:  # both paths are exercised: some levels resized first, some mixed coarse
        direct = {_direct_is_cheaper(tuple(x.shape[1:]), tuple(size), tuple(weight.shape[:1]) + (3,) * spatial_dims)
                  for x in levels}
        assert direct == {True, False}
    assert_float32_close(actual, expected)
    probe = torch.randn(expected.shape, generator=g)
    grads_a = torch.autograd.grad((actual * probe).sum(), [weight, *levels])
    grads_e = torch.autograd.grad((expected * probe).sum(), [weight, *levels])
    for a, e in zip(grads_a, grads_e, strict=True):
        assert_float32_close(a, e)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("target", ["finest", "second"])
def test_separable_resize_equals_interpolate_forward_and_backward(spatial_dims, target):
    """Up by integer and non-integer factors (2D 2/4/8 -> 16; 3D 2/3/6 -> 8) and, for "second",
    the finest level shrunk: the per-axis matrix products are torch's own interpolation."""
    levels = _levels(spatial_dims, requires_grad=True)
    size = levels[-1 if target == "finest" else -2].shape[2:]
    g = torch.Generator().manual_seed(5)
    for level in levels:
        expected = resize(level, size, spatial_dims)
        actual = separable_resize(level, size, spatial_dims)
        assert actual.shape == expected.shape == (*level.shape[:2], *size)
        assert_float32_close(actual, expected)
        probe = torch.randn(expected.shape, generator=g)
        (grad_a,) = torch.autograd.grad((actual * probe).sum(), level)
        (grad_e,) = torch.autograd.grad((expected * probe).sum(), level)
        assert_float32_close(grad_a, grad_e)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_conv1x1_equals_the_convolution_forward_and_backward(spatial_dims, bias):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 12, *([7] * spatial_dims), generator=g).requires_grad_(True)
    weight = (torch.randn(5, 12, *([1] * spatial_dims), generator=g) / 12**0.5).requires_grad_(True)
    b = torch.randn(5, generator=g).requires_grad_(True) if bias else None
    conv = {2: F.conv2d, 3: F.conv3d}[spatial_dims]
    expected = conv(x, weight, b)
    actual = conv1x1(x, weight, b)
    assert actual.shape == expected.shape == (3, 5, *([7] * spatial_dims))
    assert_float32_close(actual, expected)
    inputs = [x, weight] + ([b] if bias else [])
    probe = torch.randn(expected.shape, generator=g)
    grads_a = torch.autograd.grad((actual * probe).sum(), inputs)
    grads_e = torch.autograd.grad((expected * probe).sum(), inputs)
    for a, e in zip(grads_a, grads_e, strict=True):
        assert_float32_close(a, e)


def test_conv_of_resized_takes_the_path_with_fewer_multiply_adds():
    """Hand counts for the gate's first conv (3 x 3, width -> width) at 96 px. Width 32 at 48 px:
    direct = 96^2*32*32*9 + resize (32*48*96*48 + 32*96*96*48) = 106.2M, coarse = 48^2*32*32*9
    + per-axis products (32*3*48*96*3*48 + 32*96*96*3*48) = 127.4M: direct. At 24 px: 93.8M
    against 42.5M; width 256 at 48 px: 5.45G against 2.21G: coarse."""
    assert _direct_is_cheaper((32, 48, 48), (96, 96), (32, 3, 3))
    assert not _direct_is_cheaper((32, 24, 24), (96, 96), (32, 3, 3))
    assert not _direct_is_cheaper((256, 48, 48), (96, 96), (256, 3, 3))
    assert _direct_is_cheaper((4, 96, 96), (96, 96), (32, 3, 3))  # already full size
    assert _direct_is_cheaper((32, 192, 192), (96, 96), (32, 3, 3))  # shrunk: always direct


def test_conv_of_resized_rejects_a_channel_mismatch():
    levels = _levels(2)
    with pytest.raises(ValueError, match="channels"):
        conv_of_resized(levels, torch.zeros(5, 31, 3, 3), levels[-1].shape[2:], 2)


def _compare_modules(fast: torch.nn.Module, ref: torch.nn.Module, spatial_dims: int) -> None:
    levels = _levels(spatial_dims, requires_grad=True)
    torch.manual_seed(7)  # same stochastic gating and dropout draws for both
    out_fast = fast(levels)
    torch.manual_seed(7)
    out_ref = ref(levels)
    assert_float32_close(out_fast, out_ref)
    probe = torch.randn(out_ref.shape, generator=torch.Generator().manual_seed(8))
    params_f = [p for _, p in sorted(fast.named_parameters())]
    params_r = [p for _, p in sorted(ref.named_parameters())]
    grads_f = torch.autograd.grad((out_fast * probe).sum(), params_f + levels)
    grads_r = torch.autograd.grad((out_ref * probe).sum(), params_r + levels)
    for a, e in zip(grads_f, grads_r, strict=True):
        assert_float32_close(a, e)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("gate_resolution", ["full", "coarse"])
@pytest.mark.parametrize("training", [True, False])
def test_dense_fusion_fast_gate_matches_the_plain_gate(spatial_dims, gate_resolution, training):
    torch.manual_seed(0)
    fusion = DenseExpertFusion(
        [12, 10, 6, 4], width=8, spatial_dims=spatial_dims, stochastic=True, max_dropped=3,
        gate_resolution=gate_resolution,
    )
    if not training:  # non-trivial BatchNorm running statistics first
        with torch.no_grad():
            for _ in range(3):
                fusion(_levels(spatial_dims))
    fusion.train(training)
    ref = _reference(fusion)
    assert fusion.fast and not ref.fast
    _compare_modules(fusion, ref, spatial_dims)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_concat_fusion_projection_pulled_back_matches_the_plain_loop(spatial_dims):
    torch.manual_seed(0)
    fusion = ConcatFusion([12, 10, 6, 4], width=8, spatial_dims=spatial_dims)
    with torch.no_grad():  # make the residual convs matter
        for conv in fusion.convs:
            conv.weight.normal_(0, 0.3)
    ref = _reference(fusion)
    _compare_modules(fusion, ref, spatial_dims)


def _segmenter_pair(toy_backbone, spatial_dims: int, variant: str, overrides: dict):
    torch.manual_seed(0)
    head = resolve_head_config(variant, {"num_points": 40, "subdivision_points": 30, **overrides})
    model = Segmenter(toy_backbone(spatial_dims), 3, head)
    for sub in model.modules():  # every fast path on, also those off by default (grouped pointwise)
        if hasattr(sub, "fast"):
            sub.fast = True
    return model, _reference(model)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize(
    ("variant", "overrides"),
    [
        ("pointrend", {}),
        ("implicit_pointrend", {}),
        ("morse", {}),
        ("morse_deterministic", {}),
        ("morse", {"fusion": "pointwise"}),
        ("morse", {"gate_resolution": "coarse"}),
    ],
)
def test_segmenter_fast_and_reference_paths_agree(
    toy_backbone, spatial_dims, variant, overrides, device
):
    fast, ref = _segmenter_pair(toy_backbone, spatial_dims, variant, overrides)
    fast, ref = fast.to(device), ref.to(device)
    image, target = synthetic_batch(spatial_dims, size=16 if spatial_dims == 2 else 8)
    image, target = image.to(device), target.to(device)
    fast.train()
    ref.train()
    torch.manual_seed(11)
    coarse_f, aux_f = fast(image, target)
    torch.manual_seed(11)
    coarse_r, aux_r = ref(image, target)
    assert_float32_close(coarse_f, coarse_r)
    assert_float32_close(aux_f["point_ce"], aux_r["point_ce"])
    grads_f = torch.autograd.grad(aux_f["point_ce"], list(fast.parameters()), allow_unused=True)
    grads_r = torch.autograd.grad(aux_r["point_ce"], list(ref.parameters()), allow_unused=True)
    for a, e in zip(grads_f, grads_r, strict=True):
        assert (a is None) == (e is None)
        if a is not None:
            assert_float32_close(a, e)
    fast.eval()
    ref.eval()
    out_f, out_r = fast.predict(image), ref.predict(image)
    assert_float32_close(out_f["coarse"], out_r["coarse"])
    assert_float32_close(out_f["refined"], out_r["refined"])


# ----- the gate_resolution knob ---------------------------------------------------------------


def test_gate_resolution_defaults_to_the_faithful_full_gate_and_is_validated():
    assert HeadConfig().gate_resolution == "full"
    assert resolve_head_config("morse").to_dict()["gate_resolution"] == "full"
    assert resolve_head_config("morse", {"gate_resolution": "coarse"}).gate_resolution == "coarse"
    with pytest.raises(ValueError, match="gate_resolution"):
        HeadConfig(gate_resolution="half")
    with pytest.raises(ValueError, match="fusion='dense'"):
        resolve_head_config("pointrend", {"gate_resolution": "coarse"})
    with pytest.raises(ValueError, match="num_experts >= 2"):
        HeadConfig(gate_resolution="coarse", num_experts=1)
    with pytest.raises(ValueError, match="num_experts >= 2"):  # one expert per backbone level
        HeadConfig(gate_resolution="coarse").experts(feature_levels=1)


def test_full_gate_resolution_leaves_the_model_unchanged(toy_backbone):
    image, target = synthetic_batch(2, size=16)
    outputs = []
    for overrides in ({}, {"gate_resolution": "full"}):
        torch.manual_seed(0)
        model = Segmenter(toy_backbone(2), 3, resolve_head_config("morse", overrides)).eval()
        outputs.append(model.predict(image)["refined"])
    assert torch.equal(outputs[0], outputs[1])


def _coarse_fusion() -> DenseExpertFusion:
    torch.manual_seed(0)
    return DenseExpertFusion(
        [12, 10, 6, 4], width=8, spatial_dims=2, stochastic=True, max_dropped=3,
        gate_resolution="coarse",
    )


def test_coarse_gate_weights_sum_to_one_per_pixel_in_eval():
    fusion = _coarse_fusion()
    levels = _levels(2)
    with torch.no_grad():
        for _ in range(3):
            fusion(levels)
        fusion.eval()
        lv = fusion.experts.levels(levels)
        weights = fusion.gate_weights(fusion.experts.upsample(lv), lv)
    assert weights.shape == (2, 4, 16, 16)  # full resolution, gate ran at 8 x 8
    assert fusion.last_keep_mask is None
    assert (weights >= 0).all()
    assert_float32_close(weights.sum(dim=1), torch.ones(2, 16, 16))
    with pytest.raises(ValueError, match="per-level"):
        fusion.gate_weights(fusion.experts.upsample(lv))


def test_coarse_gate_drops_experts_exactly_in_training():
    fusion = _coarse_fusion().train()
    levels = _levels(2)
    dropped_any = False
    for _ in range(20):
        lv = fusion.experts.levels(levels)
        weights = fusion.gate_weights(fusion.experts.upsample(lv), lv)
        keep = fusion.last_keep_mask
        assert keep is not None
        assert (weights[:, keep == 0] == 0).all()
        assert (weights[:, keep == 1].sum(dim=1) <= 1 + 1e-6).all()
        dropped_any |= bool((keep == 0).any())
    assert dropped_any
