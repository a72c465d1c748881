"""3D training data: random patches from prepared volumes, foreground-balanced, reproducible.

Patch centres follow MONAI's ``RandCropByPosNegLabeld`` (the same MONAI functions pick them): with
probability ``pos_fraction`` the centre is a random foreground voxel (label > 0), otherwise a
random background voxel, then moved inside the volume so that the patch fits. Only the patch is
read from the memory-mapped image. Seeding follows
:class:`~morse.data.loading.slices2d.SliceDataset`:
:func:`~morse.data.loading.sampling.infinite_loader` hands ``(index, sample_seed)`` keys and
every random choice of that sample (centre, flips) comes from ``sample_seed`` alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms.utils import generate_pos_neg_label_crop_centers, map_binary_to_indices
from torch.utils.data import Dataset

from morse.data.loading.case_cache import CaseArrayCache

__all__ = ["AUGMENTATIONS_3D", "PatchDataset"]

AUGMENTATIONS_3D = ("flip", "none")


class PatchDataset(CaseArrayCache, Dataset):
    """3D training patches, one per case per epoch.

    ``dataset[i]`` or ``dataset[(i, sample_seed)]`` returns ``{"image": float32 (C, D, H, W),
    "label": int64 (D, H, W), "case": str}`` with ``(D, H, W) == patch_size``. Volumes smaller
    than the patch are zero-padded (centred). ``augment="flip"`` flips each axis with
    probability 0.5 (MONAI ``RandFlipd`` per axis). Plain integer indexing draws from the
    dataset's own random state (``seed``). With ``num_classes``, every case's label is checked
    once, when first loaded, to lie in ``[0, num_classes)``
    (:class:`~morse.data.errors.DataError` naming the case).
    """

    _TRANSIENT = ("_cache", "_indices")

    def __init__(
        self,
        root: Path,
        cases: list[str],
        patch_size: tuple[int, int, int],
        pos_fraction: float = 0.5,
        augment: str = "flip",
        seed: int = 0,
        num_classes: int | None = None,
    ) -> None:
        if augment not in AUGMENTATIONS_3D:
            raise ValueError(f"unknown 3D augmentation {augment!r}; use one of {AUGMENTATIONS_3D}")
        if not 0.0 <= pos_fraction <= 1.0:
            raise ValueError(f"pos_fraction must lie in [0, 1], got {pos_fraction}")
        if len(patch_size) != 3 or min(patch_size) < 1:
            raise ValueError(f"patch_size must be 3 positive ints, got {patch_size}")
        if not cases:
            raise ValueError("PatchDataset needs at least one case")
        self.root = Path(root)
        self.cases = list(cases)
        self.patch_size = tuple(int(p) for p in patch_size)
        self.pos_fraction = float(pos_fraction)
        self.augment = augment
        self._rng = np.random.RandomState(seed)
        self.num_classes = None if num_classes is None else int(num_classes)
        self._checked: set[str] = set()  # label range checked (kept across worker pickling)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._indices: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.cases)

    def _padding(self, shape: tuple[int, ...]) -> list[tuple[int, int]]:
        pads = []
        for n, p in zip(shape, self.patch_size, strict=True):
            total = max(p - n, 0)
            pads.append((total // 2, total - total // 2))
        return pads

    def _fg_bg(self, case: str, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Flat fore-/background indices of the (padded) label, cached for small volumes only.
        if case in self._indices:
            return self._indices[case]
        fg, bg = map_binary_to_indices(label[None] > 0)
        if label.size <= 128**3:
            self._indices[case] = (fg, bg)
        return fg, bg

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(key, tuple):
            index, sample_seed = int(key[0]), int(key[1])
            rng = np.random.RandomState(sample_seed % 2**32)
        else:
            index, rng = int(key), self._rng
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} cases")
        case = self.cases[index]
        image, label = self._arrays(case)
        pads = self._padding(label.shape)
        if any(sum(p) for p in pads):
            image = np.pad(image, [(0, 0), *pads])
            label = np.pad(label, pads)
        fg, bg = self._fg_bg(case, label)
        pos = self.pos_fraction
        if len(fg) == 0:
            pos = 0.0
        if len(bg) == 0:
            pos = 1.0
        (centre,) = generate_pos_neg_label_crop_centers(
            self.patch_size, 1, pos, label.shape, fg, bg, rng
        )
        box = tuple(
            slice(int(c) - p // 2, int(c) - p // 2 + p) for c, p in zip(centre, self.patch_size, strict=True)
        )
        img = np.array(image[(slice(None), *box)], dtype=np.float32)
        lab = np.array(label[box], dtype=np.int64)
        if self.augment == "flip":
            for axis in range(3):
                if rng.random_sample() < 0.5:
                    img = np.flip(img, axis + 1)
                    lab = np.flip(lab, axis)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img)),
            "label": torch.from_numpy(np.ascontiguousarray(lab)),
            "case": case,
        }
