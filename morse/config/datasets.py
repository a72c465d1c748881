"""Per-dataset resolution: a dataset's training settings, its dimensionality, its backbones."""

from __future__ import annotations

from typing import Any

from baselines import backbone_spatial_dims
from morse.data.recipes.registry import dataset_dims


def dataset_train(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The training settings of one dataset: top-level ``train`` with its own overrides."""
    return {**config["train"], **config["datasets"][dataset].get("train", {})}


def dataset_spatial_dims(entry: dict[str, Any]) -> int:
    """The dimensionality a dataset entry is trained in (2 = slice-wise, 3 = volumetric)."""
    return dataset_dims(entry)


def dataset_backbone_pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dataset, backbone) pairs that are trained: a backbone runs on every dataset of a
    dimensionality it supports (so one config can hold 2D and 3D datasets and backbones)."""
    pairs = []
    for dataset, entry in config["datasets"].items():
        dims = dataset_spatial_dims(entry)
        for backbone in entry.get("backbones", config["backbones"]):
            if dims in backbone_spatial_dims(backbone):
                pairs.append((dataset, backbone))
    return pairs
