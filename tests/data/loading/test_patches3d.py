"""PatchDataset: 3D patches, foreground share, padding, reproducible with infinite_loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from morse.data.loading.patches3d import PatchDataset
from morse.data.loading.sampling import infinite_loader
from morse.data.prepared.format import DatasetInfo, write_prepared_dataset


def _ball_case(shape: tuple[int, int, int], radius: float) -> tuple[np.ndarray, np.ndarray]:
    zz, yy, xx = np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in shape), indexing="ij")
    r = np.sqrt(zz**2 + yy**2 + xx**2)
    label = (r < radius).astype(np.uint8) + (r < radius / 2).astype(np.uint8)
    image = np.stack([r, -r]).astype(np.float32)
    return image, label


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vol3d") / "prepared"
    shapes = {"big": (32, 36, 40), "small": (6, 10, 12)}
    info = DatasetInfo("v", 3, ["a", "b"], ["background", "x", "y"],
                       {"train": ["big", "small"], "val": [], "test": []},
                       {c: [1.0, 1.0, 1.0] for c in shapes})
    write_prepared_dataset(root, info, ((c, *_ball_case(s, 5.0)) for c, s in shapes.items()))
    return root


def test_patch_shapes_dtypes_and_padding(volumes: Path) -> None:
    data = PatchDataset(volumes, ["big", "small"], (16, 16, 16))
    assert len(data) == 2
    for i in range(2):
        sample = data[(i, 123)]
        assert sample["image"].shape == (2, 16, 16, 16) and sample["image"].dtype == torch.float32
        assert sample["label"].shape == (16, 16, 16) and sample["label"].dtype == torch.int64
    small = PatchDataset(volumes, ["small"], (16, 16, 16), augment="none")[(0, 1)]
    assert int((small["label"] > 0).sum()) == int((np.load(volumes / "labels" / "small.npy") > 0).sum())
    assert float(small["image"][0, 0, 0, 0]) == 0.0  # zero padding


@pytest.mark.parametrize("pos_fraction", [0.0, 0.33, 1.0])
def test_foreground_share_matches_pos_fraction(volumes: Path, pos_fraction: float) -> None:
    data = PatchDataset(volumes, ["big"], (15, 15, 15), pos_fraction=pos_fraction, augment="none")
    n = 300
    centred = [int(data[(0, s)]["label"][7, 7, 7] > 0) for s in range(n)]
    assert abs(np.mean(centred) - pos_fraction) < 0.08


def test_same_sample_seed_same_patch_and_flips_vary(volumes: Path) -> None:
    data = PatchDataset(volumes, ["big"], (16, 16, 16), augment="flip")
    a, b = data[(0, 42)], data[(0, 42)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    images = {data[(0, s)]["image"].numpy().tobytes() for s in range(12)}
    assert len(images) > 6
    # flips move image and label together: the image encodes the radius, the label thresholds it
    for s in range(6):
        sample = data[(0, s)]
        r = sample["image"][0]
        assert torch.equal(sample["label"] > 0, r < 5.0)


def test_infinite_loader_is_reproducible(volumes: Path) -> None:
    def first_batches(seed: int) -> list[torch.Tensor]:
        data = PatchDataset(volumes, ["big", "small"], (8, 8, 8), seed=99)
        loader = infinite_loader(data, batch_size=2, seed=seed)
        return [next(loader)["image"] for _ in range(3)]

    one, two, other = first_batches(0), first_batches(0), first_batches(1)
    assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(one, other, strict=True))
    assert one[0].shape == (2, 2, 8, 8, 8)
