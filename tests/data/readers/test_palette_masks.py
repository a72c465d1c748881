"""Palette (``P``) masks are read as a person means them: grey palettes by grey value, coloured
ones (VOC-style label images) by index; every message about unexpected values says which."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from own_layouts import IMAGES2D_ENTRY, write_images2d
from PIL import Image

from morse.data.errors import DataError
from morse.data.prepared.format import load_case
from morse.data.readers.image_folders import read_mask
from morse.data.readers.palette import describe_mask_values
from morse.data.recipes.registry import fetch_dataset, prepare_dataset

# PASCAL VOC's colour map: index 1 dark red (aeroplane), 15 person, 255 the "void" border.
VOC = {0: (0, 0, 0), 1: (128, 0, 0), 15: (192, 128, 128), 255: (224, 224, 192)}


def palette_image(indices: np.ndarray, colours: dict[int, tuple[int, int, int]], *, grey_ramp: bool = False) -> Image.Image:
    """A ``P`` image with these indices; palette entries not in ``colours`` are a grey ramp
    (``grey_ramp``) or a distinct colour each."""
    table = []
    for i in range(256):
        default = (i, i, i) if grey_ramp else (i, 255 - i, (7 * i) % 256)
        table.extend(colours.get(i, default))
    img = Image.fromarray(indices.astype(np.uint8), "P")
    img.putpalette(table)
    return img


def drive_gif(path: Path) -> np.ndarray:
    """A DRIVE-like ``_manual1.gif``: vessels at palette index 251 showing white, background
    index 0 showing black (the other entries a grey ramp); returns the indices written."""
    indices = np.zeros((32, 32), np.uint8)
    indices[8:11, 2:30] = 251
    indices[2:30, 16:18] = 251
    palette_image(indices, {0: (0, 0, 0), 251: (255, 255, 255)}, grey_ramp=True).save(path, optimize=False)
    with Image.open(path) as check:  # the file keeps index 251 (GIF may not re-index)
        assert check.mode == "P" and sorted(np.unique(np.asarray(check)).tolist()) == [0, 251]
    return indices


def test_grey_palette_gif_reads_its_grey_values(tmp_path: Path) -> None:
    indices = drive_gif(tmp_path / "01_manual1.gif")
    mask = read_mask(tmp_path / "01_manual1.gif")
    assert sorted(np.unique(mask).tolist()) == [0, 255]
    np.testing.assert_array_equal(mask == 255, indices == 251)


def test_quantized_binary_mask_is_not_swapped(tmp_path: Path) -> None:
    # Pillow's quantize(2) puts white at index 0: read by index, structure and background swap.
    grey = np.zeros((16, 16), np.uint8)
    grey[4:8, 4:12] = 255
    Image.fromarray(grey).convert("RGB").quantize(2).save(tmp_path / "blob.png")
    with Image.open(tmp_path / "blob.png") as img:
        assert img.mode == "P" and np.asarray(img)[5, 5] == 0  # the blob is index 0
    np.testing.assert_array_equal(read_mask(tmp_path / "blob.png"), grey)


def test_coloured_palette_keeps_the_indices(tmp_path: Path) -> None:
    indices = np.zeros((16, 16), np.uint8)
    indices[2:6, 2:6], indices[8:12, 8:12], indices[0, :] = 1, 15, 255
    palette_image(indices, VOC).save(tmp_path / "2007_000032.png")
    mask = read_mask(tmp_path / "2007_000032.png")
    np.testing.assert_array_equal(mask, indices)
    text = describe_mask_values(tmp_path / "2007_000032.png", [15, 255])
    assert "palette image with colours, so it is read by palette index" in text
    assert "index 15 shows RGB (192, 128, 128)" in text and "index 255 shows RGB (224, 224, 192)" in text


def images2d(tmp_path: Path, classes: dict[str, str]) -> tuple[Path, dict]:
    root = write_images2d(tmp_path / "eyes", n=4)
    return root, {**IMAGES2D_ENTRY, "path": str(root), "classes": classes,
                  "layout": {"masks": "masks/{case}_manual1.gif"}}


def prepare(tmp_path: Path, entry: dict) -> Path:
    raw, out = tmp_path / "data" / "raw" / "ds", tmp_path / "data" / "prepared" / "ds"
    fetch_dataset("ds", entry, raw)
    prepare_dataset("ds", entry, raw, out)
    return out


def test_drive_masks_prepare_with_the_classes_the_image_shows(tmp_path: Path) -> None:
    root, entry = images2d(tmp_path, {"0": "background", "255": "vessel"})
    for i in range(4):
        (root / "masks" / f"eye{i:02d}_mask.png").unlink()
        indices = drive_gif(root / "masks" / f"eye{i:02d}_manual1.gif")
    out = prepare(tmp_path, entry)
    _, label = load_case(out, "eye03")
    np.testing.assert_array_equal(label[0], (indices == 251).astype(np.uint8))


def test_value_message_names_the_palette_and_the_colour(tmp_path: Path) -> None:
    # The user who writes {0: background, 1: blob} for a quantize(2) mask is told what it shows.
    root, entry = images2d(tmp_path, {"0": "background", "1": "blob"})
    for i in range(4):
        (root / "masks" / f"eye{i:02d}_mask.png").unlink()
        grey = np.zeros((32, 32), np.uint8)
        grey[4:8, 4:12] = 255
        Image.fromarray(grey).convert("RGB").quantize(2).save(root / "masks" / f"eye{i:02d}_manual1.gif")
    with pytest.raises(DataError) as error:
        prepare(tmp_path, entry)
    message = str(error.value)
    assert "has values [255] that are not in `classes`" in message
    assert "palette image whose used colours are all grey, so it is read by grey value" in message
    assert "value 255 = index 0 showing RGB (255, 255, 255)" in message
    assert not (tmp_path / "data" / "prepared" / "ds").exists()


def test_value_message_says_when_a_mask_is_not_a_palette(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 7, np.uint8), "L").save(tmp_path / "m.png")
    assert describe_mask_values(tmp_path / "m.png", [7]) == (
        "m.png is not a palette image (mode L): its pixel values are read as they are")
