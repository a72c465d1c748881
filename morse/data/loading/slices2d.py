"""2D training data: the slices of prepared cases, resized to the patch size and augmented.

Each sample's augmentation is reseeded from the ``(index, sample_seed)`` key that
:func:`morse.data.loading.sampling.infinite_loader` hands it (see there).
"""

from __future__ import annotations

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
from torch.utils.data import Dataset

from morse.data.loading.case_cache import CaseArrayCache

__all__ = ["AUGMENTATIONS", "SliceDataset"]

AUGMENTATIONS = ("rot90_flip", "rotate", "none")
_KEYS = ["image", "label"]


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


class SliceDataset(CaseArrayCache, Dataset):
    """2D training samples: every axial slice of the given cases of a prepared dataset.

    ``dataset[i]`` (or ``dataset[(i, sample_seed)]``, as produced by
    :class:`~morse.data.loading.sampling.EpochShuffleSampler`) returns ``{"image": float32
    (C, H, W), "label": int64 (H, W), "case": str, "slice": int}`` with ``(H, W) == patch_size``:
    the slice is resized if needed (image bicubic, label nearest at pixel centres), then augmented
    (``"rot90_flip"``, ``"rotate"`` in [-20, 20] degrees, or ``"none"``). Plain integer indexing
    draws augmentations from the dataset's own random state (``seed``). With ``num_classes``,
    every case's label is checked once, when first loaded, to lie in ``[0, num_classes)``
    (:class:`~morse.data.errors.DataError` naming the case otherwise).
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
        # "nearest-exact" samples the label at pixel centres, where align_corners=False puts the
        # image's samples; torch's "nearest" takes floor(i * scale) and shifts the label by up to
        # half a pixel against the image at non-integer scales.
        self._resize = Resized(
            keys=_KEYS,
            spatial_size=self.patch_size,
            mode=("bicubic", "nearest-exact"),
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
