"""``phantom3d``: BraTS-like 4-channel brain-tumour MRI volumes (MSD Task01 layout), from a seed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from morse.data.phantoms.brain3d import generate_phantom3d
from morse.data.prepared.format import DatasetInfo
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.recipes.phantom2d import generated_cases, phantom_splits
from morse.data.recipes.registry import DatasetRecipe, register_recipe

PHANTOM3D_DEFAULTS: dict[str, Any] = {"n_cases": 8, "size": 48, "depth": None, "seed": 2023}
# BraTS evaluation regions: whole tumour, tumour core, enhancing tumour.
BRATS_REGIONS = {"WT": [1, 2, 3], "TC": [2, 3], "ET": [3]}
_GENERATOR_KEYS = ("n_cases", "size", "depth", "seed", "noise", "blur", "bias", "deform")


def image_shape(entry: dict[str, Any]) -> tuple[int, ...]:
    """The shape of the volumes a config entry evaluates (``depth`` defaults to ``size``)."""
    phantom = {**PHANTOM3D_DEFAULTS, **entry.get("phantom", {})}
    return (phantom.get("depth") or phantom["size"], phantom["size"], phantom["size"])


def smallest_field_of_view_mm(entry: dict[str, Any]) -> float:
    """The field-of-view diagonal (mm) of every case of this entry (1 mm voxels)."""
    return math.hypot(*image_shape(entry))


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Generate the raw phantom deterministically from its seed (``n_slices`` is ignored in 3D)."""
    params = {**PHANTOM3D_DEFAULTS, **entry.get("phantom", {})}
    params["n_cases"] = generated_cases(params)
    generate_phantom3d(raw_dir, **{k: v for k, v in params.items() if k in _GENERATOR_KEYS})


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """Per-channel z-score over brain voxels (BraTS practice), regions WT/TC/ET, split by case."""
    intensity = {"mode": "zscore", **entry.get("intensity", {})}
    return prepare_nifti_dataset(
        raw_dir, out_dir, name=name, spatial_dims=3,
        splits=phantom_splits(entry, raw_dir),
        intensity=intensity, regions=dict(BRATS_REGIONS),
    )


register_recipe(DatasetRecipe("phantom3d", 3, fetch, prepare, __doc__ or ""))
