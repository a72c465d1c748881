"""``train.channels_last``: a Segmenter whose backbone runs in the channels-last layout computes the
same training loss, gradients and refined logits as the standard one (float32 round-off: the
convolutions sum in another order), hands the head standard-layout tensors, and keeps its
checkpoints interchangeable with the standard model's."""

from __future__ import annotations

import copy

import pytest
import torch
from method_toys import assert_same_function, synthetic_batch

from baselines import build_backbone
from morse.method import Segmenter, resolve_head_config


def _pair(backbone: str, spatial_dims: int, overrides: dict, toy_backbone, device):
    torch.manual_seed(0)
    head = resolve_head_config("morse", {"num_points": 40, "subdivision_points": 30, **overrides})
    net = toy_backbone(spatial_dims) if backbone == "toy" else build_backbone("unet", 1, 3, spatial_dims)
    standard = Segmenter(net, 3, head).to(device)
    return standard, copy.deepcopy(standard).use_channels_last()


@pytest.mark.parametrize(("backbone", "spatial_dims", "overrides"), [
    ("unet", 2, {}), ("unet", 2, {"fusion": "pointwise"}), ("toy", 3, {}),
])
def test_channels_last_backbone_matches_the_standard_layout(
    toy_backbone, backbone, spatial_dims, overrides, device
):
    standard, channels_last = _pair(backbone, spatial_dims, overrides, toy_backbone, device)
    fmt = torch.channels_last if spatial_dims == 2 else torch.channels_last_3d
    conv_weights = [p for p in channels_last.backbone.parameters() if p.dim() == spatial_dims + 2]
    assert conv_weights and all(p.is_contiguous(memory_format=fmt) for p in conv_weights)
    assert all(p.is_contiguous() for p in channels_last.fusion.parameters())  # the head is untouched
    seen = []
    channels_last.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].is_contiguous(memory_format=fmt)))

    size = 32 if backbone == "unet" else 16  # the UNet: a 2 x 2 bottleneck, not 1 x 1
    image, target = (t.to(device) for t in synthetic_batch(spatial_dims, size=size))
    with torch.no_grad():  # in eval mode: a training forward would move BatchNorm's statistics
        coarse, features = channels_last.eval().run_backbone(image)
    assert seen == [True]  # the backbone got a channels-last input ...
    assert coarse.is_contiguous() and all(f.is_contiguous() for f in features)  # ... the head does not
    assert_same_function(channels_last, standard, image, target)


def test_channels_last_checkpoints_load_into_either_layout(toy_backbone, device):
    standard, channels_last = _pair("unet", 2, {}, toy_backbone, device)
    with torch.no_grad():  # make the two models differ, then swap their weights
        for p in channels_last.parameters():
            p.add_(0.01)
    assert list(channels_last.state_dict()) == list(standard.state_dict())
    fresh = copy.deepcopy(standard)
    fresh.load_state_dict(channels_last.state_dict())
    back = copy.deepcopy(channels_last)
    back.load_state_dict(standard.state_dict())
    for name, value in channels_last.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
    conv = back.backbone.conv_0.conv_1.conv.weight  # loading keeps the model's own layout
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(conv, standard.backbone.conv_0.conv_1.conv.weight)
