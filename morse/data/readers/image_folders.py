"""2D image folders (PNG, TIFF, GIF, JPEG, ... anything Pillow opens): images, masks and an
optional field-of-view mask per case, matched by path patterns with a ``{case}`` placeholder.

Each image is one case of one slice: prepared image (C, 1, H, W), label (1, H, W), FOV (1, H, W).
RGB images give three channels, grey ones one (an alpha channel is dropped, palette images are
converted to RGB). Mask pixel values are the raw labels mapped by the ``classes`` table; a
palette (``P``) mask whose used colours are grey is read by its grey values, one with colours by
its palette indices (:mod:`morse.data.readers.palette`); a 1-bit mask reads 0 / 255.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from morse.data.errors import DataError, MissingDataError
from morse.data.readers.palette import PALETTE_MODES, palette_mask

__all__ = [
    "DEFAULT_LAYOUT",
    "ImageCase",
    "class_table",
    "find_cases",
    "read_image",
    "read_mask",
    "resize_case",
]

DEFAULT_LAYOUT = {"images": "images/{case}.png", "masks": "masks/{case}_mask.png", "fov": None}
_GREY_MODES = ("L", "I", "I;16", "I;16B", "I;16L", "F")


@dataclass(frozen=True)
class ImageCase:
    """The files of one case."""

    case: str
    image: Path
    mask: Path
    fov: Path | None


def find_cases(root: Path, layout: Mapping[str, Any]) -> dict[str, ImageCase]:
    """Every image matching ``layout["images"]`` with its mask (and FOV); a clear error for a
    missing mask or FOV, or a mask without an image."""
    layout = {**DEFAULT_LAYOUT, **layout}
    images = _match(root, layout["images"])
    masks = _match(root, layout["masks"])
    if not images:
        raise MissingDataError(
            f"no images matching {layout['images']!r} under {root}; fix `path` or `layout.images`"
        )
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise MissingDataError(
            f"masks without an image under {root}: {[str(masks[c]) for c in orphans][:5]}; add "
            f"the images or remove the masks"
        )
    cases = {}
    for case, image in sorted(images.items()):
        mask = root / layout["masks"].format(case=case)
        if not mask.is_file():
            raise MissingDataError(
                f"image {image} has no mask {mask}; add it, remove the image, or fix `layout.masks`"
            )
        fov = root / layout["fov"].format(case=case) if layout["fov"] else None
        if fov is not None and not fov.is_file():
            raise MissingDataError(
                f"image {image} has no field-of-view mask {fov}; add it or fix `layout.fov`"
            )
        cases[case] = ImageCase(case, image, mask, fov)
    return cases


def _match(root: Path, pattern: str) -> dict[str, Path]:
    folder, name = Path(pattern).parent, Path(pattern).name
    if "{case}" not in name or name.count("{case}") != 1 or "{case}" in str(folder):
        raise DataError(
            f"layout pattern {pattern!r} must hold {{case}} once, in the file name "
            f"(e.g. 'images/{{case}}.png')"
        )
    head, tail = name.split("{case}")
    regex = re.compile(re.escape(head) + r"(.+)" + re.escape(tail) + "$")
    found = {}
    for path in sorted((root / folder).glob(head + "*" + tail)):
        m = regex.match(path.name)
        if m and path.is_file() and not path.name.startswith("."):
            found[m.group(1)] = path
    return found


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"cannot read image file {path} (corrupt or not an image?): {e}") from e
    return img


def read_image(path: Path) -> np.ndarray:
    """(H, W, C) float32: grey -> 1 channel, RGB -> 3 (alpha dropped, palettes expanded)."""
    img = _open(path)
    if img.mode in _GREY_MODES:
        return np.asarray(img, dtype=np.float32)[..., None]
    if img.mode in ("1", "LA"):
        return np.asarray(img.convert("L"), dtype=np.float32)[..., None]
    return np.asarray(img.convert("RGB"), dtype=np.float32)


def read_mask(path: Path) -> np.ndarray:
    """(H, W) int64 raw label values; a colour mask must be grey (equal channels), a grey mask
    with alpha (mode LA) opaque; a palette mask reads its grey values when its used colours are
    grey, else its indices."""
    img = _open(path)
    if img.mode in PALETTE_MODES:
        return palette_mask(img)[0]
    if img.mode == "1":
        img = img.convert("L")
    data = np.asarray(img)
    if img.mode == "LA":  # grey with an alpha channel: the grey values, if alpha hides nothing
        if not (data[..., 1] == 255).all():
            raise DataError(
                f"mask {path} is grey with a transparency (alpha) channel that is not opaque "
                "everywhere; save masks with one grey channel and no alpha, holding the class "
                "values of `classes` (e.g. PIL: Image.open(p).convert('L').save(p))"
            )
        data = data[..., 0]
    if data.ndim == 3:
        if not all(np.array_equal(data[..., 0], data[..., c]) for c in range(1, min(3, data.shape[2]))):
            raise DataError(
                f"mask {path} is a colour image; save masks with one channel whose values are "
                f"the class values of `classes`"
            )
        data = data[..., 0]
    return data.astype(np.int64)


def class_table(classes: Mapping[Any, str]) -> tuple[list[str], dict[int, int]]:
    """``classes`` (raw mask value -> class name) -> (class names, raw value -> class index).

    ``background`` is class 0; the other names follow in ascending order of their smallest raw
    value; several raw values may share one name."""
    try:
        table = sorted((int(k), str(v)) for k, v in classes.items())
    except (TypeError, ValueError) as e:
        raise DataError(f"`classes` keys must be integer mask values, got {list(classes)}") from e
    names = ["background"] + [n for _, n in table if n != "background"]
    names = list(dict.fromkeys(names))
    if not any(n == "background" for _, n in table) or len(names) < 2:
        raise DataError(
            f"`classes` must name one value 'background' and at least one other class, got "
            f"{dict(table)} (e.g. {{0: background, 255: vessel}})"
        )
    return names, {value: names.index(name) for value, name in table}


def resize_case(image: np.ndarray, label: np.ndarray, fov: np.ndarray | None,
                size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Resize (H, W, C) image (bilinear, per channel), (H, W) label and FOV (nearest) to
    ``size`` = (height, width), with Pillow."""
    from PIL import Image

    h, w = int(size[0]), int(size[1])
    channels = [np.asarray(Image.fromarray(image[..., c]).resize((w, h), Image.BILINEAR))
                for c in range(image.shape[2])]

    def nearest(a: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(a.astype(np.int32)).resize((w, h), Image.NEAREST))

    return (np.stack(channels, axis=-1), nearest(label),
            None if fov is None else nearest(fov.astype(np.int32)))
