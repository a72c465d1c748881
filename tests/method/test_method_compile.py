"""``train.compile``: a Segmenter compiled in place (torch.compile, CPU inductor) computes the same
training loss, gradients and refined logits as the eager one, and keeps its state-dict keys.

Inductor draws its own random numbers unless ``fallback_random`` is set; with it, the point
sampling, stochastic gating and dropout draws equal the eager ones, so the comparison is exact up
to float32 round-off (fused kernels sum in another order). Skipped without a C++ compiler.
"""

from __future__ import annotations

import copy
import shutil

import pytest
import torch
from method_toys import assert_same_function, synthetic_batch

from baselines import build_backbone
from morse.method import Segmenter, resolve_head_config

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None,
    reason="torch.compile on CPU needs a C++ compiler (Debian: apt-get install g++)",
)]  # slow: inductor compiles C++ kernels for every model


@pytest.mark.parametrize(("backbone", "overrides"), [
    ("toy", {}), ("toy", {"fusion": "pointwise"}),
    ("unet", {}),  # the paper's UNet: its UpCat padding once broke the compiled backward
])
def test_compiled_segmenter_matches_eager(toy_backbone, backbone, overrides, device):
    from torch._inductor import config as inductor_config

    torch.manual_seed(0)
    head = resolve_head_config("morse", {"num_points": 40, "subdivision_points": 30, **overrides})
    net = toy_backbone(2) if backbone == "toy" else build_backbone("unet", 1, 3, 2)
    eager = Segmenter(net, 3, head).to(device)
    compiled = copy.deepcopy(eager)
    compiled.compile()
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints unchanged
    size = 16 if backbone == "toy" else 32  # the UNet: a 2 x 2 bottleneck, not 1 x 1
    image, target = (t.to(device) for t in synthetic_batch(2, size=size))
    torch._dynamo.reset()
    with inductor_config.patch(fallback_random=True):
        assert_same_function(compiled, eager, image, target)
