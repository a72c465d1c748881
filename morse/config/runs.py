"""The runs an experiment trains, and the fully resolved configuration of each (run.json's)."""

from __future__ import annotations

from typing import Any

from morse.config.datasets import dataset_backbone_pairs, dataset_spatial_dims, dataset_train
from morse.config.identity import config_hash
from morse.config.variants import PRETRAIN, ablation_identities, ablation_variants, variant_head
from morse.method.config import HeadConfig, resolve_head_config


def run_matrix(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every (dataset, backbone, variant) that is trained (each over all seeds); a dataset's own
    ``variants`` list, when given, restricts the variants it runs."""
    ablations = ablation_variants(config)
    block = config.get("ablations") or {}
    matrix = []
    for dataset, backbone in dataset_backbone_pairs(config):
        for variant in config["datasets"][dataset].get("variants", config["variants"]):
            if variant in ablations and (
                dataset not in block.get("datasets", [dataset])
                or backbone not in block.get("backbones", [backbone])
            ):
                continue
            matrix.append((dataset, backbone, variant))
    return matrix


def stage_train(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """A dataset's training settings as its runs record them: under ``until: plateau`` every
    stage's ``iterations`` (the schedules' length and the cap) is ``max_iterations``, and
    ``pretrain_iterations`` is not used."""
    train = dataset_train(config, dataset)
    if train.get("until") == "plateau":
        train["iterations"] = train["max_iterations"]
        train.pop("pretrain_iterations", None)
    return train


def _resolve(
    config: dict[str, Any], dataset: str, backbone: str, variant: str, seed: int,
    head: HeadConfig, train: dict[str, Any], protocol: str,
) -> dict[str, Any]:
    entry = config["datasets"][dataset]
    return {
        "experiment": config["experiment"],
        "dataset": dataset,
        "dataset_kind": entry["kind"],
        "spatial_dims": dataset_spatial_dims(entry),
        "backbone": backbone,
        "backbone_options": config["backbones"][backbone] or {},
        "variant": variant,
        "head": head.to_dict(),  # the run config travels as JSON (Snakemake params, run.json)
        "seed": int(seed),
        "device": config.get("device", "auto"),
        "protocol": protocol,
        "train": train,
        "evaluate": {**config.get("evaluate", {}), **entry.get("evaluate", {})},
    }


def run_config(
    config: dict[str, Any], dataset: str, backbone: str, variant: str, seed: int
) -> dict[str, Any]:
    """The fully resolved configuration of one training run (what run.json records)."""
    protocol = config.get("protocol", "single_stage")
    resolved = _resolve(config, dataset, backbone, variant, seed, variant_head(config, variant),
                        stage_train(config, dataset), protocol)
    ablation = ablation_identities(config).get(variant)
    if ablation is not None:  # which ablation point this is (run.json carries it)
        resolved["ablation"] = ablation
    if protocol == "two_stage":
        resolved["init_config_hash"] = pretrain_config(config, dataset, backbone, seed)["config_hash"]
    resolved["config_hash"] = config_hash(resolved)
    return resolved


def pretrain_config(config: dict[str, Any], dataset: str, backbone: str, seed: int) -> dict[str, Any]:
    """The resolved config of the backbone-only pretraining run of the two-stage protocol."""
    train = stage_train(config, dataset)
    train["iterations"] = train.pop("pretrain_iterations", None) or train["iterations"]
    head = resolve_head_config("baseline")
    resolved = _resolve(config, dataset, backbone, PRETRAIN, seed, head, train, "two_stage")
    resolved["config_hash"] = config_hash(resolved)
    return resolved
