"""``phantom2d``: CT-like stacks of 2D slices with eight organ-like classes, generated from a seed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from morse.data.errors import DataError
from morse.data.phantoms.abdomen2d import IN_PLANE_SPACING_MM, SLICE_SPACING_MM, generate_phantom2d
from morse.data.prepared.format import DatasetInfo
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.prepared.splits import entry_splits
from morse.data.readers.decathlon import task_cases
from morse.data.recipes.registry import DatasetRecipe, register_recipe

PHANTOM_DEFAULTS = {"n_cases": 16, "n_slices": 8, "size": 96, "seed": 2023}
PHANTOM_SPLIT_DEFAULTS = {"test_fraction": 0.25, "val_fraction": 0.0, "seed": 0}


def generated_cases(phantom: dict[str, Any]) -> int:
    """How many cases a phantom entry generates: ``n_cases`` plus ``n_val_cases`` (default 0)."""
    return int(phantom["n_cases"]) + int(phantom.get("n_val_cases", 0))


def phantom_splits(entry: dict[str, Any], raw_dir: Path) -> dict[str, list[str]]:
    """The splits of a generated phantom: the last ``phantom.n_val_cases`` cases (generated after
    the ``n_cases`` ones) are validation cases; the others are split as ``split`` says, exactly as
    without validation cases. Each case depends only on the seed and its index, so adding
    validation cases changes neither the training nor the test cases."""
    cases = sorted(task_cases(raw_dir))
    n_val = int(entry.get("phantom", {}).get("n_val_cases", 0))
    if n_val >= len(cases):
        raise DataError(f"{raw_dir} holds {len(cases)} cases, not more than phantom.n_val_cases {n_val}; "
                        f"delete {raw_dir} to generate it again")
    base, extra = cases[:len(cases) - n_val], cases[len(cases) - n_val:]
    splits = entry_splits(entry, base, raw_dir, PHANTOM_SPLIT_DEFAULTS)
    return {**splits, "val": sorted([*splits["val"], *extra])}


def image_shape(entry: dict[str, Any]) -> tuple[int, ...]:
    """The shape of the images a config entry evaluates: its slices (trained slice-wise)."""
    size = {**PHANTOM_DEFAULTS, **entry.get("phantom", {})}["size"]
    return (size, size)


def smallest_field_of_view_mm(entry: dict[str, Any]) -> float:
    """The smallest field-of-view diagonal (mm) a case of this entry can have: its stack at the
    smallest voxel sizes the generator draws (what an NSD tolerance may not exceed)."""
    phantom = {**PHANTOM_DEFAULTS, **entry.get("phantom", {})}
    side = phantom["size"] * IN_PLANE_SPACING_MM[0]
    return math.hypot(phantom["n_slices"] * SLICE_SPACING_MM[0], side, side)


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Generate the raw phantom (MSD layout, NIfTI) deterministically from its seed."""
    params = {**PHANTOM_DEFAULTS, **entry.get("phantom", {})}
    params["n_cases"] = generated_cases(params)
    params.pop("n_val_cases", None)
    generate_phantom2d(raw_dir, **params)


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """Window to [-125, 275] HU -> [0, 1] (the Synapse protocol) and split by case."""
    intensity = {"mode": "window", "window": [-125, 275], **entry.get("intensity", {})}
    return prepare_nifti_dataset(
        raw_dir, out_dir, name=name, spatial_dims=2,
        splits=phantom_splits(entry, raw_dir),
        intensity=intensity,
    )


register_recipe(DatasetRecipe("phantom2d", 2, fetch, prepare, __doc__ or ""))
