"""Dataset recipes: which fetch and prepare functions produce each dataset ``kind``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from morse.data.prepared import DatasetInfo

PHANTOM_DEFAULTS = {"n_cases": 16, "n_slices": 8, "size": 128, "seed": 2023}
KINDS = ("phantom2d",)


def _check_kind(name: str, entry: dict[str, Any]) -> str:
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ValueError(
            f"dataset {name!r}: unknown kind {kind!r}; known kinds: {', '.join(KINDS)}"
        )
    return kind


def fetch_dataset(name: str, entry: dict[str, Any], out_dir: Path) -> None:
    """Produce the raw dataset of config entry ``entry`` in ``out_dir`` (download or generate)."""
    from morse.data.phantom import generate_phantom2d

    _check_kind(name, entry)
    params = {**PHANTOM_DEFAULTS, **entry.get("phantom", {})}
    generate_phantom2d(out_dir, **params)


def prepare_dataset(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """Convert the raw dataset in ``raw_dir`` to the prepared format in ``out_dir``."""
    from morse.data.prepare import prepare_nifti_dataset

    _check_kind(name, entry)
    split = {"test_fraction": 0.25, "val_fraction": 0.0, "seed": 0, **entry.get("split", {})}
    intensity = {"mode": "window", "window": [-125, 275], **entry.get("intensity", {})}
    return prepare_nifti_dataset(
        raw_dir,
        out_dir,
        name=name,
        spatial_dims=2,
        test_fraction=split["test_fraction"],
        val_fraction=split["val_fraction"],
        split_seed=split["seed"],
        intensity=intensity,
    )
