"""``nnunet``: an nnU-Net v2 raw dataset folder (local only), 3D or slice-wise.

``source: local``, ``path``: the ``DatasetXXX_Name`` folder (or its parent). Prepare: channels
from ``channel_names``, classes from ``labels`` (region-based labels become evaluation regions),
spacing from the headers, intensity per ``intensity`` (default: clip to the 0.5-99.5th
percentiles, then z-score); ``spatial_dims`` / ``slice_axis`` / ``split`` as for ``msd``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from morse.data.errors import MissingDataError
from morse.data.prepared.format import SPLIT_NAMES, DatasetInfo
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.prepared.splits import entry_splits
from morse.data.readers.nnunet_raw import read_nnunet_dataset
from morse.data.recipes.generic_settings import volume_options
from morse.data.recipes.registry import DatasetRecipe, register_recipe
from morse.data.sources.local import local_only_dir, record_local_source

_WHAT = "an nnU-Net v2 raw dataset folder DatasetXXX_Name (dataset.json, imagesTr/, labelsTr/)"


def _dataset_dir(name: str, entry: dict[str, Any]) -> Path:
    root = local_only_dir(name, entry, _WHAT)
    if (root / "dataset.json").is_file():
        return root
    found = sorted(c for c in root.glob("*") if (c / "dataset.json").is_file() and (c / "imagesTr").is_dir())
    if len(found) != 1:
        raise MissingDataError(
            f"dataset {name!r}: {root} holds {len(found)} nnU-Net datasets "
            f"{[c.name for c in found]}; set `path` to {_WHAT}"
        )
    return found[0]


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Check the local folder and record it (nothing is copied)."""
    root = _dataset_dir(name, entry)
    read_nnunet_dataset(root)  # fail at fetch on a broken dataset.json
    record_local_source(raw_dir, root, "nnunet")


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """nnU-Net raw folder -> prepared format."""
    ds = read_nnunet_dataset(_dataset_dir(name, entry))
    splits = entry_splits(entry, sorted(ds.cases), ds.root)
    return prepare_nifti_dataset(
        ds.root, out_dir, name=name, splits=splits, class_names=ds.class_names,
        modalities=ds.modalities, regions=entry.get("regions") or ds.regions,
        cases=[ds.cases[c] for s in SPLIT_NAMES for c in splits[s]], **volume_options(entry),
    )


register_recipe(DatasetRecipe("nnunet", 3, fetch, prepare, (__doc__ or "").split("\n")[0], (2, 3)))
