"""Reading and validating a config: bad configs fail early and name the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest

from morse.config import REPO_ROOT, ConfigError, load_config, validate_config


def test_shipped_configs_are_valid() -> None:
    for name in ("config.yaml", "tiny.yaml"):
        config = load_config(REPO_ROOT / "config" / name)
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


def test_duplicate_keys_anywhere_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text((REPO_ROOT / "config" / "tiny.yaml").read_text().replace(
        "  phantom2d:\n", "  phantom2d:\n    kind: phantom2d\n", 1))
    with pytest.raises(ConfigError, match=r"dup\.yaml:8: key 'kind' is given twice \(lines 7 and 8\)"):
        load_config(path)
    path.write_text("experiment: a\nexperiment: b\n")
    with pytest.raises(ConfigError, match=r"key 'experiment' is given twice \(lines 1 and 2\)"):
        load_config(path)
