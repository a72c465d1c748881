"""Sliding-window 3D inference: output shapes, and stitching equals whole-volume prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from baselines import build_backbone
from morse.engine.inference3d import network_patch_size, predict_volume_3d
from morse.method import Segmenter, resolve_head_config

CPU = torch.device("cpu")
HEAD = {"expert_width": 8, "num_points": 32, "subdivision_points": 64}


class PositionBackbone(nn.Module):
    """Toy 3D backbone whose logits are a fixed voxel-wise function of the input.

    Fed a volume whose channels are the voxel coordinates, its logits are a known function of
    position: class k scores -(d_k)^2 for the distance to centre k, so arg-max = nearest centre.
    """

    def __init__(self, centres: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("centres", centres)  # (K, 3)
        self.scale = nn.Parameter(torch.ones(()))
        self.spatial_dims = 3
        self.size_divisor = 8
        self.feature_channels = [3]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        d = x[:, None] - self.centres[None, :, :, None, None, None]  # (B, K, 3, Z, Y, X)
        logits = -self.scale * (d**2).sum(2)
        return logits, [logits]


def _coordinate_volume(shape: tuple[int, int, int]) -> np.ndarray:
    return np.stack(np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij"))


def test_stitched_coarse_prediction_equals_whole_volume_prediction() -> None:
    shape = (37, 29, 45)
    centres = torch.tensor([[5.0, 5.0, 5.0], [30.0, 20.0, 10.0], [18.0, 8.0, 40.0]])
    model = Segmenter(PositionBackbone(centres), 3, resolve_head_config("baseline"))
    image = _coordinate_volume(shape)
    out = predict_volume_3d(model, image, (16, 16, 16), CPU, overlap=0.5, sw_batch_size=2)
    assert set(out) == {"coarse"}
    assert out["coarse"].shape == shape and out["coarse"].dtype == np.uint8
    model.eval()
    with torch.no_grad():
        direct = model.predict(torch.from_numpy(image)[None])["coarse"][0].argmax(0).numpy()
    assert len(np.unique(direct)) == 3
    assert np.array_equal(out["coarse"], direct)


@pytest.mark.parametrize("shape", [(40, 36, 30), (12, 20, 14)])
def test_real_backbone_with_head_returns_volume_shape(shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    backbone = build_backbone("unet", 2, 3, 3, features=(4, 8, 8, 8, 8, 4))
    model = Segmenter(backbone, 3, resolve_head_config("morse", HEAD))
    image = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    out = predict_volume_3d(model, image, (16, 16, 16), CPU, overlap=0.25)
    assert set(out) == {"coarse", "refined"}
    for labels in out.values():
        assert labels.shape == shape and labels.dtype == np.uint8 and labels.max() < 3


def test_overwritten_voxels_are_traced_through_the_windows() -> None:
    torch.manual_seed(0)
    backbone = build_backbone("unet", 2, 3, 3, features=(4, 8, 8, 8, 8, 4))
    model = Segmenter(backbone, 3, resolve_head_config("morse", HEAD))
    image = np.random.default_rng(0).standard_normal((2, 16, 16, 16)).astype(np.float32)
    one_window = predict_volume_3d(model, image, (16, 16, 16), CPU, overwritten=True)
    assert one_window["overwritten"].shape == (2, 16, 16, 16)  # two subdivision steps
    assert (one_window["overwritten"].reshape(2, -1).sum(1) == HEAD["subdivision_points"]).all()
    image = np.random.default_rng(1).standard_normal((2, 24, 20, 16)).astype(np.float32)
    plain = predict_volume_3d(model, image, (16, 16, 16), CPU, overlap=0.5)
    traced = predict_volume_3d(model, image, (16, 16, 16), CPU, overlap=0.5, overwritten=True)
    assert all(np.array_equal(plain[k], traced[k]) for k in plain)
    changed = traced["refined"] != traced["coarse"]
    assert changed.any() and not (changed & ~traced["overwritten"].any(0)).any()


def test_patch_size_is_rounded_to_the_divisor_and_fixed_sizes_enforced() -> None:
    vnet = Segmenter(build_backbone("vnet", 1, 2, 3), 2, resolve_head_config("baseline"))
    assert network_patch_size(vnet, (20, 16, 33)) == (32, 16, 48)
    unetr = Segmenter(build_backbone("unetr", 1, 2, 3, img_size=16, size="small"), 2,
                      resolve_head_config("baseline"))
    assert network_patch_size(unetr, (16, 16, 16)) == (16, 16, 16)
    with pytest.raises(ValueError, match="img_size"):
        network_patch_size(unetr, (32, 32, 32))
    out = predict_volume_3d(unetr, np.zeros((1, 20, 18, 10), np.float32), (16, 16, 16), CPU)
    assert out["coarse"].shape == (20, 18, 10)
