"""Experiment configuration: schema validation, defaults, and the resolved per-run config.

The same functions serve the Snakefile (which also validates with Snakemake's own ``validate``)
and the ``morse-bench`` command line, so a run started by hand sees exactly what Snakemake sees.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

# Dimensionality each dataset kind is trained in (2 = slice-wise).
DATASET_SPATIAL_DIMS = {"phantom2d": 2}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


def load_schema() -> dict[str, Any]:
    """The experiment config JSON schema."""
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def _extend_with_defaults(validator_class):
    """A jsonschema validator that also fills in ``default`` values (like Snakemake's)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _extend_with_defaults(jsonschema.Draft202012Validator)


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` against the schema, fill defaults, and check names that the schema
    cannot know (backbones, variants, head knobs). Returns a validated deep copy."""
    config = copy.deepcopy(config)
    validator = _DefaultingValidator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
            lines.append(f"  config key '{where}': {error.message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    check_names(config)
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config file, apply ``overrides`` (top-level keys) and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    with open(path) as handle:
        config = yaml.safe_load(handle) or {}
    config.update(overrides or {})
    return validate_config(config)


def variant_head(config: dict[str, Any], variant: str) -> dict[str, Any]:
    """Resolve a variant name to its full head configuration (a dict of HeadConfig fields)."""
    from morse.method import VARIANTS, resolve_head_config

    entry = dict(config["variants"][variant] or {})
    base = entry.pop("base", variant)
    if base not in VARIANTS:
        raise ConfigError(
            f"config key 'variants.{variant}': unknown variant {base!r}; base variants are "
            f"{', '.join(VARIANTS)} (give other names a 'base' key, e.g. "
            "morse-e3: {base: morse, num_experts: 3})"
        )
    overrides: dict[str, Any] = {}
    if VARIANTS[base].get("head", "implicit") != "none":
        overrides.update(config.get("method", {}))
    overrides.update(entry)
    try:
        return resolve_head_config(base, overrides).to_dict()
    except ValueError as error:
        raise ConfigError(f"config key 'variants.{variant}' / 'method': {error}") from error


def check_names(config: dict[str, Any]) -> None:
    """Fail early on unknown backbones/variants and 2D/3D mismatches."""
    from baselines import get_backbone_spec

    for name in config["backbones"]:
        try:
            spec = get_backbone_spec(name)
        except ValueError as error:
            raise ConfigError(f"config key 'backbones.{name}': {error}") from error
        for dataset, entry in config["datasets"].items():
            dims = DATASET_SPATIAL_DIMS[entry["kind"]]
            if dims not in spec.spatial_dims:
                raise ConfigError(
                    f"config key 'backbones.{name}': backbone supports {list(spec.spatial_dims)}D "
                    f"inputs but dataset {dataset!r} is {dims}D"
                )
    for variant in config["variants"]:
        variant_head(config, variant)


def run_config(
    config: dict[str, Any], dataset: str, backbone: str, variant: str, seed: int
) -> dict[str, Any]:
    """The fully resolved configuration of one training run (what run.json records)."""
    entry = config["datasets"][dataset]
    resolved = {
        "experiment": config["experiment"],
        "dataset": dataset,
        "dataset_kind": entry["kind"],
        "spatial_dims": DATASET_SPATIAL_DIMS[entry["kind"]],
        "backbone": backbone,
        "backbone_options": config["backbones"][backbone] or {},
        "variant": variant,
        "head": variant_head(config, variant),
        "seed": int(seed),
        "device": config.get("device", "auto"),
        "protocol": config.get("protocol", "single_stage"),
        "train": config["train"],
        "evaluate": config.get("evaluate", {}),
    }
    resolved["config_hash"] = config_hash(resolved)
    return resolved


def config_hash(run: dict[str, Any]) -> str:
    """A short stable hash of a resolved run config (ignoring any existing hash)."""
    payload = {k: v for k, v in run.items() if k != "config_hash"}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
