"""Training data loading from prepared datasets: 2D slices with augmentation, endless batches.

Randomness is explicit and reproducible. :func:`infinite_loader` draws, from one
``torch.Generator`` seeded by ``seed``, a fresh permutation of the samples *and* a fresh
augmentation seed per sample in every epoch; the sampler hands ``(index, sample_seed)`` to the
dataset, which reseeds its MONAI transforms with it. The augmentation of a sample therefore does
not depend on which worker process loads it, and it is never replayed from one epoch to the next
(the authors' code re-created workers with identical random states each epoch).

The sequence is a pure function of ``(seed, sample position)``: ``infinite_loader(..., start=k)``
yields exactly what the loader started at 0 yields from its ``k``-th sample on. A resumed
training run passes ``start = iteration * batch_size`` and so sees the very batches (order and
augmentations) an uninterrupted run sees; no loader state needs to go into the checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import (
    Compose,
    MapTransform,
    RandFlipd,
    RandRotate90d,
    RandRotated,
    Resized,
)
from torch.utils.data import DataLoader, Dataset, Sampler

from morse.data.errors import DataError
from morse.data.prepared.format import load_case

__all__ = ["AUGMENTATIONS", "EpochShuffleSampler", "SliceDataset", "check_label_range", "infinite_loader"]

AUGMENTATIONS = ("rot90_flip", "rotate", "none")
_KEYS = ["image", "label"]


def check_label_range(label: np.ndarray, num_classes: int | None, case: str, root: Path) -> None:
    """Raise :class:`DataError` naming ``case`` if ``label`` has a value outside
    ``[0, num_classes)`` (a prepared dataset edited or corrupted after the prepare step)."""
    if num_classes is None or label.size == 0:
        return
    low, high = int(np.min(label)), int(np.max(label))
    if low < 0 or high >= num_classes:
        raise DataError(
            f"case {case!r} of {root}: label values in [{low}, {high}] fall outside the class map "
            f"[0, {num_classes - 1}] ({num_classes} classes); re-run the prepare step for this dataset"
        )


def _build_transforms(augment: str) -> list[MapTransform]:
    if augment == "rot90_flip":  # TransUNet's random_rot_flip: k in {0..3}, then flips
        return [
            RandRotate90d(keys=_KEYS, prob=0.75, max_k=3, spatial_axes=(0, 1)),
            RandFlipd(keys=_KEYS, prob=0.5, spatial_axis=0),
            RandFlipd(keys=_KEYS, prob=0.5, spatial_axis=1),
        ]
    if augment == "rotate":  # random rotation in [-20, 20] degrees
        return [
            RandRotated(
                keys=_KEYS,
                range_x=float(np.deg2rad(20.0)),
                prob=1.0,
                keep_size=True,
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            )
        ]
    if augment == "none":
        return []
    raise ValueError(f"unknown augmentation {augment!r}; use one of {AUGMENTATIONS}")


class CaseArrayCache:
    """Mixin for datasets over prepared cases: memory-mapped arrays opened once per process,
    label range checked once per case. Attributes named in ``_TRANSIENT`` are dropped when the
    dataset is pickled into worker processes (memory maps are reopened there)."""

    _TRANSIENT: tuple[str, ...] = ("_cache",)
    root: Path
    num_classes: int | None
    _cache: dict[str, tuple[np.ndarray, np.ndarray]]
    _checked: set[str]

    def _arrays(self, case: str) -> tuple[np.ndarray, np.ndarray]:
        if case not in self._cache:
            arrays = load_case(self.root, case, mmap=True)
            if case not in self._checked:
                check_label_range(arrays[1], self.num_classes, case, self.root)
                self._checked.add(case)
            self._cache[case] = arrays
        return self._cache[case]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._TRANSIENT:
            state[name] = {}
        return state


class SliceDataset(CaseArrayCache, Dataset):
    """2D training samples: every axial slice of the given cases of a prepared dataset.

    ``dataset[i]`` (or ``dataset[(i, sample_seed)]``, as produced by :class:`EpochShuffleSampler`)
    returns ``{"image": float32 (C, H, W), "label": int64 (H, W), "case": str, "slice": int}``
    with ``(H, W) == patch_size``: the slice is resized if needed (image bicubic, label nearest),
    then augmented (``"rot90_flip"``, ``"rotate"`` in [-20, 20] degrees, or ``"none"``).
    Plain integer indexing draws augmentations from the dataset's own random state (``seed``).
    With ``num_classes``, every case's label is checked once, when first loaded, to lie in
    ``[0, num_classes)`` (:class:`DataError` naming the case otherwise).
    """

    def __init__(
        self,
        root: Path,
        cases: list[str],
        patch_size: tuple[int, int],
        augment: str = "rot90_flip",
        seed: int = 0,
        num_classes: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.cases = list(cases)
        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        self.augment = augment
        augs = _build_transforms(augment)
        if augment == "rot90_flip" and self.patch_size[0] != self.patch_size[1]:
            raise ValueError(
                f"augment='rot90_flip' needs a square patch_size (a 90-degree rotation swaps H "
                f"and W), got {self.patch_size}; use augment='rotate' or 'none'"
            )
        self._resize = Resized(
            keys=_KEYS,
            spatial_size=self.patch_size,
            mode=("bicubic", "nearest"),
            align_corners=(False, None),
        )
        self._augment = Compose(augs) if augs else None
        if self._augment is not None:
            self._augment.set_random_state(seed=seed)
        self.num_classes = None if num_classes is None else int(num_classes)
        self._checked: set[str] = set()  # label range checked (kept across worker pickling)
        self._items: list[tuple[int, int]] = []
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for ci, case in enumerate(self.cases):
            _, label = self._arrays(case)
            self._items.extend((ci, z) for z in range(label.shape[0]))


    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(key, tuple):
            index, sample_seed = int(key[0]), int(key[1])
        else:
            index, sample_seed = int(key), None
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} slices")
        ci, z = self._items[index]
        case = self.cases[ci]
        image, label = self._arrays(case)
        sample = {
            "image": torch.from_numpy(np.array(image[:, z], dtype=np.float32)),
            "label": torch.from_numpy(np.array(label[z][None], dtype=np.float32)),
        }
        if tuple(sample["label"].shape[1:]) != self.patch_size:
            sample = self._resize(sample)
        if self._augment is not None:
            if sample_seed is not None:
                self._augment.set_random_state(seed=sample_seed)
            sample = self._augment(sample)
        img = torch.as_tensor(sample["image"]).as_subclass(torch.Tensor).float().contiguous()
        lab = (
            torch.as_tensor(sample["label"])
            .as_subclass(torch.Tensor)[0]
            .round()
            .long()
            .contiguous()
        )
        return {"image": img, "label": lab, "case": case, "slice": z}


class EpochShuffleSampler(Sampler):
    """Endless sampler: each epoch a new permutation and a new augmentation seed per sample.

    Yields ``(index, sample_seed)``. Everything comes from one ``torch.Generator`` seeded with
    ``seed``, restarted at every ``iter()``: the same seed gives the same sequence. With
    ``start``, the first ``start`` samples of that sequence are skipped (the generator is
    advanced epoch by epoch, which costs two small draws per skipped epoch), so sample ``k`` is
    the same whatever ``start`` the sampler was created with.
    """

    def __init__(self, n: int, seed: int, start: int = 0) -> None:
        if n < 1:
            raise ValueError("cannot sample from an empty dataset")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.n = int(n)
        self.seed = int(seed)
        self.start = int(start)

    def epochs(self) -> Iterator[tuple[list[int], list[int]]]:
        """Endless (permutation, sample seeds) pairs, one per epoch."""
        g = torch.Generator()
        g.manual_seed(self.seed)
        while True:
            perm = torch.randperm(self.n, generator=g).tolist()
            seeds = torch.randint(0, 2**31 - 1, (self.n,), generator=g).tolist()
            yield perm, seeds

    def __iter__(self) -> Iterator[tuple[int, int]]:
        skip_epochs, skip_samples = divmod(self.start, self.n)
        for epoch, (perm, seeds) in enumerate(self.epochs()):
            if epoch < skip_epochs:
                continue
            offset = skip_samples if epoch == skip_epochs else 0
            yield from zip(perm[offset:], seeds[offset:], strict=True)


def _worker_init(worker_id: int) -> None:
    # Distinct, reproducible global numpy state per worker (for any transform outside MONAI's
    # per-sample seeding); torch already seeds workers from the loader's base seed.
    np.random.seed(torch.initial_seed() % 2**32)


def infinite_loader(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
    start: int = 0,
) -> Iterator[dict[str, Any]]:
    """Endless shuffled batches from ``dataset`` (a :class:`SliceDataset` or any dataset that
    accepts ``(index, sample_seed)`` keys); reproducible for a given ``seed``.

    Batches run across epoch boundaries (no sample is dropped); every epoch has a different
    permutation and different augmentations. ``start`` (in samples, not batches) continues the
    sequence of ``seed`` from that sample on: resuming after ``i`` iterations uses
    ``start = i * batch_size``.
    """
    sampler = EpochShuffleSampler(len(dataset), seed, start=start)
    g = torch.Generator()
    g.manual_seed(seed)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        generator=g,
        persistent_workers=num_workers > 0,
    )
    yield from loader
