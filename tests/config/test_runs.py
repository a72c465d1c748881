"""Resolved run configs: variants and their heads, ablation variants, the run matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from morse.config import (
    REPO_ROOT,
    ConfigError,
    ablation_identities,
    dataset_backbone_pairs,
    load_config,
    run_config,
    run_matrix,
    validate_config,
    variant_head,
)
from morse.method import HeadConfig


def test_ablation_variant_resolves_base_and_overrides(tiny: dict) -> None:
    tiny["variants"]["morse-e3"] = {"base": "morse", "num_experts": 3}
    config = validate_config(tiny)
    run = run_config(config, "phantom2d", "unet", "morse-e3", 0)
    assert run["head"]["num_experts"] == 3
    assert run["head"]["expert_width"] == 8  # shared `method` override still applies
    baseline = run_config(config, "phantom2d", "unet", "baseline", 0)
    assert baseline["head"]["head_type"] == "none"


def test_a_variant_resolves_to_one_head_config_that_the_run_config_carries_as_json(tiny: dict) -> None:
    config = validate_config(tiny)
    head = variant_head(config, "morse")
    assert isinstance(head, HeadConfig) and head.expert_width == 8
    run = run_config(config, "phantom2d", "unet", "morse", 0)
    assert run["head"] == head.to_dict() and HeadConfig(**run["head"]) == head


def test_per_dataset_train_overrides_and_backbone_lists(tiny: dict) -> None:
    tiny["datasets"]["other"] = {"kind": "phantom2d", "backbones": ["unet"], "train": {"batch_size": 1}}
    config = validate_config(tiny)
    assert run_config(config, "other", "unet", "morse", 0)["train"]["batch_size"] == 1
    assert run_config(config, "phantom2d", "unet", "morse", 0)["train"]["batch_size"] == 2
    assert dataset_backbone_pairs(config) == [("phantom2d", "unet"), ("other", "unet")]
    tiny["datasets"]["other"]["train"] = {"batch_size": 0}
    with pytest.raises(ConfigError, match=r"datasets\.other\.train"):
        validate_config(tiny)
    tiny["datasets"]["other"]["train"] = {"patch_size": [32, 32, 32]}
    with pytest.raises(ConfigError, match=r"patch_size.*2D"):
        validate_config(tiny)
    tiny["datasets"]["other"] = {"kind": "phantom2d", "backbones": ["vnet_not_listed"]}
    with pytest.raises(ConfigError, match="vnet_not_listed"):
        validate_config(tiny)


def test_paper_config_lists_every_dataset_backbone_pair() -> None:
    config = load_config(REPO_ROOT / "config" / "paper.yaml")
    assert config["protocol"] == "two_stage"
    assert set(dataset_backbone_pairs(config)) == {
        ("synapse", "unet"), ("synapse", "transunet"), ("acdc", "unet"), ("acdc", "transunet"),
        ("brats", "vnet"), ("brats", "unetr"), ("heart", "vnet"),
    }
    assert run_config(config, "brats", "vnet", "morse", 1337)["train"]["patch_size"] == [96, 96, 96]
    assert run_config(config, "synapse", "unet", "morse", 1337)["head"]["expert_width"] == 256


def test_ablation_block_expands_into_one_knob_variants(tiny: dict) -> None:
    tiny["datasets"]["other"] = {"kind": "phantom2d"}
    tiny["ablations"] = {"datasets": ["phantom2d"], "knobs": {"num_experts": [2, 4], "stochastic_gating": [False]}}
    config = validate_config(tiny)
    names = ["morse-num_experts-2", "morse-num_experts-4", "morse-stochastic_gating-false"]
    assert all(name in config["variants"] for name in names)
    run = run_config(config, "phantom2d", "unet", "morse-num_experts-2", 0)
    assert run["head"]["num_experts"] == 2 and run["head"]["expert_width"] == 8  # `method` still applies
    assert run_config(config, "phantom2d", "unet", "morse-stochastic_gating-false", 0)["head"]["stochastic_gating"] is False
    matrix = run_matrix(config)
    assert ("phantom2d", "unet", "morse-num_experts-4") in matrix
    assert ("other", "unet", "morse-num_experts-4") not in matrix  # restricted to phantom2d
    assert ("other", "unet", "morse") in matrix
    tiny["ablations"]["knobs"] = {"num_expert": [2]}
    with pytest.raises(ConfigError, match="num_expert"):
        validate_config(tiny)


def test_ablation_identity_is_recorded_in_the_run_config(tmp_path: Path) -> None:
    text = (REPO_ROOT / "config" / "tiny.yaml").read_text() + (
        "ablations:\n  base: morse\n  knobs:\n    num_points: [32]\n    stochastic_gating: [false]\n")
    path = tmp_path / "ablations.yaml"
    path.write_text(text)
    config = load_config(path)
    assert ablation_identities(config) == {
        "morse-num_points-32": {"base": "morse", "knob": "num_points", "value": 32},
        "morse-stochastic_gating-false": {"base": "morse", "knob": "stochastic_gating", "value": False},
    }
    run = run_config(config, "phantom2d", "unet", "morse-stochastic_gating-false", 0)
    assert run["ablation"] == {"base": "morse", "knob": "stochastic_gating", "value": False}
    assert run["head"]["stochastic_gating"] is False
    assert "ablation" not in run_config(config, "phantom2d", "unet", "morse", 0)
