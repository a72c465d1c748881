"""Reading an experiment config: strict YAML, schema validation with defaults, then the checks.

The same functions serve the Snakefile (which also validates with Snakemake's own ``validate``)
and the ``morse-bench`` command line, so a run started by hand sees exactly what Snakemake sees.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from morse.config.checks import (
    check_backbones,
    check_classes,
    check_dataset_train,
    check_evaluation,
    check_finite_numbers,
    check_names,
    check_safe_names,
)
from morse.config.overlays import apply_overlay, config_paths, mapping, refuse_lone_overlay
from morse.config.references import check_references, check_regime
from morse.config.schema import ConfigError, DefaultingValidator, describe, load_schema
from morse.config.variants import ablation_variants, check_ablation_names


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (at any depth)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name}:{line}: key {key!r} is given twice (lines {seen[key]} "
                f"and {line}); the second would silently replace the first: merge them into one"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, refusing duplicate keys; syntax errors become one-line
    :class:`ConfigError` messages ``<file>:<line>:<column>: ...``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path) as handle:
            return yaml.load(handle, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark, start = error.problem_mark or error.context_mark, error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(" ".join(str(p) for p in (error.context, error.problem) if p).split())
        if start is not None and mark is not None and start.line != mark.line:
            problem += f" (begun at line {start.line + 1}, column {start.column + 1})"
        raise ConfigError(f"{where}: YAML syntax error: {problem}; fix the file "
                          "(indent with spaces, close brackets and quotes)") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML error: {' '.join(str(error).split())}") from None


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` against the schema, fill defaults, and check names that the schema
    cannot know (backbones, variants, head knobs). Returns a validated deep copy."""
    config = copy.deepcopy(config)
    check_safe_names(config)
    check_finite_numbers(config)
    validator = DefaultingValidator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
            lines.append(f"  config key '{where}': {describe(error)}")
        if len(lines) == 1:
            raise ConfigError("invalid configuration:" + lines[0][1:])
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    check_ablation_names(config)
    config["variants"] = {**config["variants"], **ablation_variants(config)}
    check_safe_names(config)  # the ablation variants' generated names too
    check_names(config)
    check_classes(config)
    check_evaluation(config)
    check_dataset_train(config)
    check_backbones(config)
    check_regime(config)
    check_references(config)
    return config


def resolve_config_files(paths: str | Path | Sequence[str | Path]) -> dict[str, Any]:
    """Read the base experiment (the first file) and lay every overlay over it, in order
    (:mod:`morse.config.overlays`); not yet validated."""
    paths = config_paths(paths)
    config = mapping(read_yaml(paths[0]), paths[0])
    refuse_lone_overlay(config, paths[0])
    for path in paths[1:]:
        config = apply_overlay(config, mapping(read_yaml(path), path), path, paths[0])
    return config


def load_config(path: str | Path | Sequence[str | Path],
                overrides: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Read a YAML config file (or a base experiment and its overlays, :mod:`morse.config.overlays`),
    apply ``overrides`` (top-level keys) and validate it."""
    config = resolve_config_files(path)
    config.update(overrides or {})
    return validate_config(config)
