"""Endless, reproducible batches for training, from any dataset of prepared cases.

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
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["EpochShuffleSampler", "infinite_loader"]


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
    """Endless shuffled batches from ``dataset`` (a :class:`~morse.data.loading.slices2d.SliceDataset` or any dataset that
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
