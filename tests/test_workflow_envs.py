"""The rules' conda environment (workflow/envs/) installs what the package declares: the same
pins as pyproject.toml and environment.yml, and the package itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))


def _pip_lines(environment: Path) -> list[str]:
    dependencies = yaml.safe_load(environment.read_text())["dependencies"]
    return next(item["pip"] for item in dependencies if isinstance(item, dict))


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def _rule_blocks(text: str) -> dict[str, str]:
    starts = list(re.finditer(r"^rule (\w+):$", text, flags=re.M))
    ends = [m.start() for m in starts[1:]] + [len(text)] if starts else []
    return {m.group(1): text[m.end():end] for m, end in zip(starts, ends, strict=True)}


def test_every_rule_names_an_existing_conda_environment() -> None:
    blocks = {name: (path, block) for path in RULES for name, block in _rule_blocks(path.read_text()).items()}
    assert {"fetch", "prepare", "pretrain", "train", "evaluate", "aggregate", "compare", "report"} <= set(blocks)
    for name, (path, block) in blocks.items():
        match = re.search(r'^    conda:\n        "([^"]+)"$', block, flags=re.M)
        assert match, f"rule {name} ({path.name}) has no conda: environment"
        assert (path.parent / match.group(1)).resolve().is_file(), (name, match.group(1))


def test_rule_environment_pins_the_package_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = _pip_lines(ROOT / "workflow" / "envs" / "morse-bench.yaml")
    options = [line for line in env if line.startswith("-")]
    assert sorted(line for line in env if not line.startswith("-")) == sorted(pyproject)
    # installed as environment.yml installs them: same index options, same pins where both list one
    conda_env = _pip_lines(ROOT / "environment.yml")
    assert options == [line for line in conda_env if line.startswith("--")]
    pins = {_name(line): line for line in env if not line.startswith("-")}
    for line in conda_env:
        if not line.startswith("-") and _name(line) in pins:
            assert pins[_name(line)] == line
    assert "torch==2.13.0" in env


def test_post_deploy_script_installs_the_package_without_other_dependencies() -> None:
    script = (ROOT / "workflow" / "envs" / "morse-bench.post-deploy.sh").read_text()
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "pip install --no-deps --editable ." in script
