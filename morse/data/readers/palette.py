"""Palette (``P``) masks: read as the person who drew them means them.

A palette image stores an index per pixel and a colour per index. What a person sees is the
colour, so a mask whose used palette entries are all grey (R = G = B) is read by its **grey
value**: DRIVE's ``01_manual1.gif`` stores its vessels as index 251 showing white and reads
0 / 255, and a binary mask saved through Pillow's ``quantize(2)`` (white at index 0) reads
255 / 0 rather than swapped 0 / 1. A palette with colours keeps the **index** reading, the
convention of label images such as PASCAL VOC's (index 1 shows dark red and means class 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PALETTE_MODES", "describe_mask_values", "palette_mask"]

PALETTE_MODES = ("P", "PA")


def _colours(img: Any) -> np.ndarray:
    """The palette as (N, 3) uint8 RGB rows (an empty table when the image has none)."""
    flat = img.getpalette("RGB") or []
    return np.asarray(flat, dtype=np.uint8).reshape(-1, 3)


def _indices(img: Any) -> np.ndarray:
    data = np.asarray(img)
    return data[..., 0] if data.ndim == 3 else data  # PA: (index, alpha)


def _colour_of(colours: np.ndarray, index: int) -> tuple[int, int, int] | None:
    return tuple(int(c) for c in colours[index]) if index < len(colours) else None  # type: ignore[return-value]


def _is_grey(colours: np.ndarray, used: np.ndarray) -> bool:
    if used.size == 0 or int(used.max()) >= len(colours):
        return False
    rgb = colours[used].astype(np.int64)
    return bool(np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]))


def palette_mask(img: Any) -> tuple[np.ndarray, bool]:
    """A ``P`` / ``PA`` image -> ((H, W) int64 values, read by grey value?).

    The values are the grey values of the palette entries when every used entry is grey,
    else the palette indices."""
    indices = _indices(img).astype(np.int64)
    colours = _colours(img)
    used = np.unique(indices)
    if _is_grey(colours, used):
        return colours[:, 0].astype(np.int64)[indices], True
    return indices, False


def describe_mask_values(path: Path, values: list[int]) -> str:
    """A sentence for a message about unexpected ``values`` of the mask at ``path``: whether it
    is a palette image, how it was read, and which colour each offending value shows."""
    from PIL import Image

    with Image.open(path) as img:
        if img.mode not in PALETTE_MODES:
            return f"{path.name} is not a palette image (mode {img.mode}): its pixel values are read as they are"
        img.load()
        colours, indices = _colours(img), _indices(img)
        _, grey = palette_mask(img)
    if grey:
        parts = []
        for v in values:
            shown = sorted(int(i) for i in np.unique(indices) if i < len(colours) and colours[i, 0] == v)
            parts.append(f"value {v} = index {', '.join(map(str, shown))} showing "
                         f"RGB {_colour_of(colours, shown[0]) if shown else '?'}")
        return (f"{path.name} is a palette image whose used colours are all grey, so it is read by "
                f"grey value ({'; '.join(parts)})")
    parts = [f"index {v} shows RGB {_colour_of(colours, v) or '(not in the palette)'}" for v in values]
    return (f"{path.name} is a palette image with colours, so it is read by palette index "
            f"({'; '.join(parts)})")
