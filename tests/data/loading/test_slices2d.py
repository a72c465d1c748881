"""SliceDataset and infinite_loader: shapes, resizing, augmentation, reproducible shuffling."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from morse.data.loading.sampling import EpochShuffleSampler, infinite_loader
from morse.data.loading.slices2d import SliceDataset
from morse.data.prepared.format import load_case, read_dataset_info


@pytest.fixture(scope="module")
def train_cases(tiny_prepared: Path) -> list[str]:
    return read_dataset_info(tiny_prepared).splits["train"]


def test_slices_shapes_and_dtypes(tiny_prepared: Path, train_cases: list[str]) -> None:
    ds = SliceDataset(tiny_prepared, train_cases, (32, 32), augment="none")
    assert len(ds) == 3 * len(train_cases)
    s = ds[4]
    assert s["image"].dtype == torch.float32 and s["image"].shape == (1, 32, 32)
    assert s["label"].dtype == torch.int64 and s["label"].shape == (32, 32)
    image, label = load_case(tiny_prepared, train_cases[1])
    assert (s["case"], s["slice"]) == (train_cases[1], 1)
    np.testing.assert_array_equal(s["image"].numpy(), image[:, 1])  # no resize, no augmentation
    np.testing.assert_array_equal(s["label"].numpy(), label[1])


@pytest.mark.parametrize("augment", ["none", "rotate"])
def test_resize_keeps_label_values(
    tiny_prepared: Path, train_cases: list[str], augment: str
) -> None:
    ds = SliceDataset(tiny_prepared, train_cases, (45, 40), augment=augment)
    for i in range(len(ds)):
        s = ds[i]
        assert s["image"].shape == (1, 45, 40) and s["label"].shape == (45, 40)
        _, label = load_case(tiny_prepared, s["case"])
        assert set(s["label"].unique().tolist()) <= set(np.unique(label).tolist())
        assert s["label"].dtype == torch.int64 and s["image"].dtype == torch.float32


def test_rot90_flip_preserves_label_histogram(tiny_prepared: Path, train_cases: list[str]) -> None:
    plain = SliceDataset(tiny_prepared, train_cases, (32, 32), augment="none")
    aug = SliceDataset(tiny_prepared, train_cases, (32, 32), augment="rot90_flip")
    changed = 0
    for i in range(len(plain)):
        a, b = plain[(i, 0)], aug[(i, 1000 + i)]
        np.testing.assert_array_equal(
            torch.bincount(a["label"].flatten(), minlength=9),
            torch.bincount(b["label"].flatten(), minlength=9),
        )
        changed += int(not torch.equal(a["label"], b["label"]))
    assert changed > 0
    with pytest.raises(ValueError, match="square"):
        SliceDataset(tiny_prepared, train_cases, (32, 48), augment="rot90_flip")


def test_sample_seed_fixes_augmentation(tiny_prepared: Path, train_cases: list[str]) -> None:
    ds = SliceDataset(tiny_prepared, train_cases, (32, 32), augment="rotate")
    assert torch.equal(ds[(2, 5)]["image"], ds[(2, 5)]["image"])
    assert not torch.equal(ds[(2, 5)]["image"], ds[(2, 6)]["image"])


def _batches(ds: SliceDataset, seed: int, n: int) -> list[dict]:
    return list(itertools.islice(infinite_loader(ds, batch_size=3, seed=seed), n))


def test_infinite_loader_reproducible(tiny_prepared: Path, train_cases: list[str]) -> None:
    ds = SliceDataset(tiny_prepared, train_cases, (32, 32), augment="rotate")
    n = 2 * len(ds) // 3 + 2  # more than two epochs: the stream never ends
    a, b, c = _batches(ds, 11, n), _batches(ds, 11, n), _batches(ds, 12, n)
    assert (
        len(a) == n and a[0]["image"].shape == (3, 1, 32, 32) and a[0]["label"].shape == (3, 32, 32)
    )
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])
    assert any(not torch.equal(x["image"], y["image"]) for x, y in zip(a, c, strict=True))


def test_new_order_and_new_augmentations_every_epoch(
    tiny_prepared: Path, train_cases: list[str]
) -> None:
    epochs = EpochShuffleSampler(9, seed=0).epochs()
    (p0, s0), (p1, s1) = next(epochs), next(epochs)
    assert sorted(p0) == sorted(p1) == list(range(9))
    assert p0 != p1 and s0 != s1
    ds = SliceDataset(tiny_prepared, train_cases, (32, 32), augment="rotate")
    n = len(ds)  # 9 slices, batch = one epoch
    e0, e1 = itertools.islice(infinite_loader(ds, batch_size=n, seed=0), 2)
    order0 = list(zip(e0["case"], e0["slice"].tolist(), strict=True))
    order1 = list(zip(e1["case"], e1["slice"].tolist(), strict=True))
    assert sorted(order0) == sorted(order1) and order0 != order1
    first = {k: e0["image"][i] for i, k in enumerate(order0)}
    again = {k: e1["image"][i] for i, k in enumerate(order1)}
    assert all(not torch.equal(first[k], again[k]) for k in first)  # no replayed augmentation


def test_workers_give_the_same_batches(tiny_prepared: Path, train_cases: list[str]) -> None:
    """Per-sample augmentation seeds come from the sampler, so worker count does not matter."""
    ds = SliceDataset(tiny_prepared, train_cases, (32, 32), augment="rotate")
    a = list(itertools.islice(infinite_loader(ds, batch_size=2, seed=3, num_workers=2), 6))
    b = list(itertools.islice(infinite_loader(ds, batch_size=2, seed=3, num_workers=0), 6))
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(a, b, strict=True))


def test_resized_label_stays_on_the_resized_image(tmp_path: Path) -> None:
    # A 20 x 20 slice enlarged to 48 x 48: label and image must stay aligned. torch's "nearest"
    # (floor) moved the label half a target pixel against the bicubic image at such scales.
    from morse.data.prepared.format import DatasetInfo, write_prepared_dataset

    yy, xx = np.mgrid[:20, :20]
    label = (np.hypot(yy - 8.3, xx - 11.6) < 4.5).astype(np.uint8)
    info = DatasetInfo(name="disc", spatial_dims=2, modalities=["image"], class_names=["background", "disc"],
                       splits={"train": ["disc"], "test": []}, spacing={"disc": [1.0, 1.0, 1.0]})
    write_prepared_dataset(tmp_path / "disc", info, [("disc", label[None, None].astype(np.float32), label[None])])
    sample = SliceDataset(tmp_path / "disc", ["disc"], (48, 48), augment="none")[0]
    weights = {"label": sample["label"].numpy().astype(float), "image": sample["image"][0].numpy().clip(0, None)}
    grid = np.mgrid[:48, :48]
    centre = {k: [(grid[a] * w).sum() / w.sum() for a in (0, 1)] for k, w in weights.items()}
    np.testing.assert_allclose(centre["label"], centre["image"], atol=0.15)
    # and both where the disc is: (8.3, 11.6) source pixels -> (i + 0.5) * 2.4 - 0.5 target pixels
    np.testing.assert_allclose(centre["label"], [(8.3 + 0.5) * 2.4 - 0.5, (11.6 + 0.5) * 2.4 - 0.5], atol=0.3)
