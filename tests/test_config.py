"""Configuration validation: bad configs fail early and name the offending key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from baselines import register
from morse.config import ConfigError, config_hash, load_config, run_config, validate_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def tiny() -> dict:
    return yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


def test_shipped_configs_are_valid() -> None:
    for name in ("config.yaml", "tiny.yaml"):
        config = load_config(ROOT / "config" / name)
        assert config["train"]["momentum"] == 0.9  # default filled in from the schema


def test_unknown_top_level_key_is_named(tiny: dict) -> None:
    tiny["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match="learning_rate"):
        validate_config(tiny)


def test_unknown_nested_key_is_named_with_its_path(tiny: dict) -> None:
    tiny["train"]["iteratons"] = 10
    with pytest.raises(ConfigError, match=r"'train'.*iteratons"):
        validate_config(tiny)


def test_wrong_type_is_named(tiny: dict) -> None:
    tiny["train"]["batch_size"] = "four"
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        validate_config(tiny)


def test_unknown_backbone_lists_the_available_ones(tiny: dict) -> None:
    tiny["backbones"] = {"resnet9000": {}}
    with pytest.raises(ConfigError, match=r"resnet9000.*available: .*unet"):
        validate_config(tiny)


def test_unknown_variant_lists_the_base_variants(tiny: dict) -> None:
    tiny["variants"] = {"morze": {}}
    with pytest.raises(ConfigError, match=r"morze.*baseline.*morse"):
        validate_config(tiny)


def test_unknown_head_knob_is_named(tiny: dict) -> None:
    tiny["variants"]["morse"] = {"num_expert": 3}
    with pytest.raises(ConfigError, match="num_expert"):
        validate_config(tiny)


def test_3d_only_backbone_on_2d_dataset_is_rejected(tiny: dict) -> None:
    @register("toy3d_only_for_config_test", spatial_dims=(3,))
    def build(in_channels, num_classes, spatial_dims, **options):  # pragma: no cover - never built
        raise AssertionError

    tiny["backbones"] = {"toy3d_only_for_config_test": {}}
    with pytest.raises(ConfigError, match=r"no dataset matches.*phantom2d.*2D"):
        validate_config(tiny)


def test_ablation_variant_resolves_base_and_overrides(tiny: dict) -> None:
    tiny["variants"]["morse-e3"] = {"base": "morse", "num_experts": 3}
    config = validate_config(tiny)
    run = run_config(config, "phantom2d", "unet", "morse-e3", 0)
    assert run["head"]["num_experts"] == 3
    assert run["head"]["expert_width"] == 8  # shared `method` override still applies
    baseline = run_config(config, "phantom2d", "unet", "baseline", 0)
    assert baseline["head"]["head_type"] == "none"


def test_config_hash_changes_with_any_hyper_parameter(tiny: dict) -> None:
    config = validate_config(tiny)
    first = run_config(config, "phantom2d", "unet", "morse", 0)
    changed = copy.deepcopy(config)
    changed["train"]["lr"] = 0.02
    second = run_config(changed, "phantom2d", "unet", "morse", 0)
    assert first["config_hash"] != second["config_hash"]
    assert first["config_hash"] == config_hash(first)
    assert first["config_hash"] != run_config(config, "phantom2d", "unet", "morse", 1)["config_hash"]


def test_per_dataset_train_overrides_and_backbone_lists(tiny: dict) -> None:
    from morse.config import dataset_backbone_pairs

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
    from morse.config import dataset_backbone_pairs

    config = load_config(ROOT / "config" / "paper.yaml")
    assert config["protocol"] == "two_stage"
    assert set(dataset_backbone_pairs(config)) == {
        ("synapse", "unet"), ("synapse", "transunet"), ("acdc", "unet"), ("acdc", "transunet"),
        ("brats", "vnet"), ("brats", "unetr"), ("heart", "vnet"),
    }
    assert run_config(config, "brats", "vnet", "morse", 1337)["train"]["patch_size"] == [96, 96, 96]
    assert run_config(config, "synapse", "unet", "morse", 1337)["head"]["expert_width"] == 256


def test_ablation_block_expands_into_one_knob_variants(tiny: dict) -> None:
    from morse.config import run_matrix

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


@pytest.mark.parametrize(("block", "key", "value"), [
    ("train", "log_every", 7), ("train", "checkpoint_every", 5), ("train", "num_workers", 2),
    ("evaluate", "slice_batch", 3), ("cuda", "threads", 3),
])
def test_identity_hash_ignores_settings_that_do_not_change_the_weights(
    tiny: dict, block: str, key: str, value: int
) -> None:
    from morse.config import merge_settings, run_identity, run_settings

    if block == "cuda":  # the CPU thread count only sizes a thread pool beside the GPU
        tiny["device"], block = "cuda", "train"
    first = run_config(validate_config(tiny), "phantom2d", "unet", "morse", 0)
    tiny.setdefault(block, {})[key] = value
    second = run_config(validate_config(tiny), "phantom2d", "unet", "morse", 0)
    assert second[block][key] == value  # recorded in the run config (run.json) ...
    assert second["config_hash"] == first["config_hash"]  # ... but the same run: no retraining
    assert run_identity(second) == run_identity(first)
    # what the train rule passes (identity as the param, settings beside it) is the whole run
    assert merge_settings(run_identity(second), run_settings(second)) == second


def test_identity_hash_covers_everything_that_changes_the_weights(tiny: dict) -> None:
    config = validate_config(tiny)
    first = run_config(config, "phantom2d", "unet", "morse", 0)
    # opt-in layouts and compilation get no default, so runs that never set them keep their hash
    assert "channels_last" not in first["train"] and "compile" not in first["train"]
    for block, key, value in (("train", "iterations", 5), ("train", "batch_size", 1), ("train", "amp", False),
                              ("train", "augment", "none"), ("method", "num_points", 32), ("device", None, "auto"),
                              ("train", "threads", 2),  # on CPU the thread count changes the rounding
                              ("train", "channels_last", True), ("train", "compile", True)):
        changed = copy.deepcopy(tiny)
        if key is None:
            changed[block] = value
        else:
            changed[block][key] = value
        assert run_config(validate_config(changed), "phantom2d", "unet", "morse", 0)["config_hash"] != \
            first["config_hash"], (block, key)


def test_duplicate_keys_anywhere_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text((ROOT / "config" / "tiny.yaml").read_text().replace(
        "  phantom2d:\n", "  phantom2d:\n    kind: phantom2d\n", 1))
    with pytest.raises(ConfigError, match=r"dup\.yaml:8: key 'kind' is given twice \(lines 7 and 8\)"):
        load_config(path)
    path.write_text("experiment: a\nexperiment: b\n")
    with pytest.raises(ConfigError, match=r"key 'experiment' is given twice \(lines 1 and 2\)"):
        load_config(path)
