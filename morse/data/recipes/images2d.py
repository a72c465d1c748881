"""``images2d``: folders of 2D images and masks (PNG, TIFF, GIF, JPEG via Pillow), local only.

``source: local``, ``path``; ``layout`` patterns relative to ``path`` with ``{case}`` in the file
name (default ``images/{case}.png``, ``masks/{case}_mask.png``, optional ``fov``); ``classes``
maps mask values to names (``{0: background, 255: vessel}``); optional ``modalities`` (default
``[grey]`` or ``[R, G, B]``), pixel ``spacing`` in mm (one number or ``[row, column]``; default
1, recorded as assumed) and ``size: [height, width]`` to resize to. Every image is one case of one
slice. Pixels outside the field-of-view mask are ignored by the metrics (``fov/`` of the prepared
format).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from morse.data.errors import DataError
from morse.data.prepared.format import DatasetInfo, write_prepared_dataset
from morse.data.prepared.intensity import describe_intensity, normalize_intensity
from morse.data.prepared.splits import entry_splits, require_train_and_test
from morse.data.readers.image_folders import (
    DEFAULT_LAYOUT,
    ImageCase,
    class_table,
    find_cases,
    read_image,
    read_mask,
    resize_case,
)
from morse.data.readers.palette import describe_mask_values
from morse.data.recipes.generic_settings import generic_intensity
from morse.data.recipes.registry import DatasetRecipe, register_recipe
from morse.data.sources.local import local_only_dir, record_local_source

_WHAT = "the folder holding the 2D images and masks (see `layout`)"


def _root(name: str, entry: dict[str, Any]) -> Path:
    return local_only_dir(name, entry, _WHAT)


def _classes(name: str, entry: dict[str, Any]) -> tuple[list[str], dict[int, int]]:
    if not entry.get("classes"):
        raise DataError(f"dataset {name!r}: kind images2d needs `classes`, e.g. {{0: background, 255: vessel}}")
    return class_table(entry["classes"])


def _spacing(name: str, entry: dict[str, Any]) -> tuple[float, float]:
    value = entry.get("spacing", 1.0)
    rows, cols = (value, value) if np.isscalar(value) else tuple(value)
    if not all(np.isfinite(float(s)) and float(s) > 0 for s in (rows, cols)):
        raise DataError(f"dataset {name!r}: `spacing` must be positive and finite (mm), got {value}")
    return float(rows), float(cols)


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Check the folder and its layout, and record the folder (nothing is copied). The class
    table is checked by the config check and at prepare (this step gets only the source keys)."""
    root = _root(name, entry)
    find_cases(root, entry.get("layout", {}))
    record_local_source(raw_dir, root, "images2d")


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """Image folders -> prepared format (one slice per case, FOV kept for the metrics)."""
    root = _root(name, entry)
    layout = {**DEFAULT_LAYOUT, **entry.get("layout", {})}
    cases = find_cases(root, layout)
    class_names, lut = _classes(name, entry)
    splits = entry_splits(entry, sorted(cases), root)
    require_train_and_test(splits, root, len(cases))
    intensity = generic_intensity(entry)
    spacing = _spacing(name, entry)
    first = cases[next(c for s in splits.values() for c in s)]
    modalities = list(entry.get("modalities") or
                      (["grey"] if read_image(first.image).shape[2] == 1 else ["R", "G", "B"]))
    info = DatasetInfo(
        name=name, spatial_dims=2, modalities=modalities, class_names=class_names, splits=splits,
        spacing={}, regions=dict(entry.get("regions") or {}), fov=bool(layout["fov"]),
        preparation={
            "intensity": intensity, "intensity_text": describe_intensity(intensity),
            "spacing": (f"{spacing[0]:g} x {spacing[1]:g} mm per pixel (config)" if "spacing" in entry
                        else "1 mm per pixel assumed (no `spacing` in the config)"),
            "size": entry.get("size"),
        },
    )
    info.validate()
    converter = _Converter(info, lut, intensity, spacing, entry.get("size"))
    write_prepared_dataset(out_dir, info, converter.all(cases))
    return info


class _Converter:
    """Read, check, map, resize and normalise one image case."""

    def __init__(self, info: DatasetInfo, lut: dict[int, int], intensity: dict[str, Any],
                 spacing: tuple[float, float], size: list[int] | None) -> None:
        self.info, self.lut, self.intensity = info, lut, intensity
        self.spacing, self.size = spacing, size

    def all(self, cases: dict[str, ImageCase]) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        for case in tqdm(self.info.cases, desc=f"prepare {self.info.name}", unit="case"):
            yield self(cases[case])

    def __call__(self, c: ImageCase) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        image, raw = read_image(c.image), read_mask(c.mask)
        fov = read_mask(c.fov) > 0 if c.fov is not None else np.ones(raw.shape, bool)
        for what, path, shape in (("mask", c.mask, raw.shape), ("field-of-view mask", c.fov, fov.shape)):
            if shape != image.shape[:2]:
                raise DataError(
                    f"case {c.case!r}: {what} {path} is {shape[0]} x {shape[1]} pixels but image "
                    f"{c.image} is {image.shape[0]} x {image.shape[1]}; they must match"
                )
        if image.shape[2] != len(self.info.modalities):
            raise DataError(
                f"case {c.case!r}: image {c.image} has {image.shape[2]} channel(s) but the dataset "
                f"declares {len(self.info.modalities)} modalities {self.info.modalities}; fix "
                f"`modalities` or convert the image"
            )
        label = self._map(c, raw)
        h0, w0 = label.shape
        if self.size:
            image, label, fov = resize_case(image, label, fov, tuple(self.size))
        h, w = label.shape
        labelled = int(np.count_nonzero(label))
        if labelled and not np.count_nonzero(label[np.asarray(fov) > 0]):
            raise DataError(
                f"case {c.case!r}: its field-of-view mask {c.fov} leaves out all {labelled} labelled "
                f"pixels of {c.mask}, so the metrics would score an empty case; fix the mask (nonzero "
                "= inside the field of view; an inverted mask?) or `layout.fov`"
            )
        self.info.spacing[c.case] = [1.0, self.spacing[0] * h0 / h, self.spacing[1] * w0 / w]
        image = normalize_intensity(np.ascontiguousarray(image.transpose(2, 0, 1)[:, None]), self.intensity)
        return c.case, image, label[None].astype(np.uint8), np.asarray(fov)[None] > 0

    def _map(self, c: ImageCase, raw: np.ndarray) -> np.ndarray:
        values, inverse = np.unique(raw, return_inverse=True)
        bad = [int(v) for v in values if int(v) not in self.lut]
        if bad:
            raise DataError(
                f"case {c.case!r}: mask {c.mask} has values {bad[:10]} that are not in `classes` "
                f"({sorted(self.lut)}); {describe_mask_values(c.mask, bad[:10])}. Add them to "
                f"`classes` or fix the mask (JPEG masks blur edges: save masks as PNG)"
            )
        return np.array([self.lut[int(v)] for v in values], dtype=np.uint8)[inverse].reshape(raw.shape)


register_recipe(DatasetRecipe("images2d", 2, fetch, prepare, (__doc__ or "").split("\n")[0]))
