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
    config["variants"] = {**config["variants"], **ablation_variants(config)}
    check_names(config)
    check_evaluation(config)
    train_schema = load_schema()["properties"]["train"]
    for dataset, entry in config["datasets"].items():
        merged = dataset_train(config, dataset)
        problems = [e.message for e in jsonschema.Draft202012Validator(train_schema).iter_errors(merged)]
        if problems:
            raise ConfigError(f"config key 'datasets.{dataset}.train': {'; '.join(problems)}")
        if len(merged["patch_size"]) != dataset_spatial_dims(entry):
            raise ConfigError(
                f"config key 'datasets.{dataset}.train.patch_size': {merged['patch_size']} has "
                f"{len(merged['patch_size'])} sides but dataset {dataset!r} is "
                f"{dataset_spatial_dims(entry)}D; give it a patch_size under datasets.{dataset}.train"
            )
    return config


def ablation_name(base: str, knob: str, value: Any) -> str:
    """The variant name of one ablation point, e.g. ``morse-num_experts-3``."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{base}-{knob}-{text}"


def ablation_points(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``ablations`` block as variant name -> its identity ``{base, knob, value}``: one point
    per knob value (recorded in the run config, so the analysis never parses variant names)."""
    block = config.get("ablations") or {}
    base = block.get("base", "morse")
    return {
        ablation_name(base, knob, value): {"base": base, "knob": knob, "value": value}
        for knob, values in (block.get("knobs") or {}).items()
        for value in values
    }


def ablation_variants(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Expand the ``ablations`` block into variants: one per knob value, each the ``base``
    variant with that single knob changed (the others at the experiment's values)."""
    variants: dict[str, dict[str, Any]] = {}
    for name, point in ablation_points(config).items():
        overrides = dict(config["variants"].get(point["base"]) or {})
        overrides.setdefault("base", point["base"])
        overrides[point["knob"]] = point["value"]
        variants[name] = overrides
    return variants


def dataset_train(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The training settings of one dataset: top-level ``train`` with its own overrides."""
    return {**config["train"], **config["datasets"][dataset].get("train", {})}


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
    if VARIANTS[base].get("head_type", "implicit") != "none":
        overrides.update(config.get("method", {}))
    overrides.update(entry)
    try:
        return resolve_head_config(base, overrides).to_dict()
    except ValueError as error:
        raise ConfigError(f"config key 'variants.{variant}' / 'method': {error}") from error


def dataset_spatial_dims(entry: dict[str, Any]) -> int:
    """The dimensionality a dataset entry is trained in (2 = slice-wise, 3 = volumetric)."""
    from morse.data.sources import dataset_dims

    return dataset_dims(entry)


def check_names(config: dict[str, Any]) -> None:
    """Fail early on unknown backbones/variants/dataset kinds and 2D/3D mismatches."""
    from baselines import backbone_spatial_dims

    for dataset, entry in config["datasets"].items():
        try:
            dims = dataset_spatial_dims(entry)
        except ValueError as error:
            raise ConfigError(f"config key 'datasets.{dataset}.kind': {error}") from error
        for name in entry.get("variants", []):
            if name not in config["variants"]:
                raise ConfigError(
                    f"config key 'datasets.{dataset}.variants': {name!r} is not under the top-level "
                    f"'variants' ({', '.join(config['variants'])})"
                )
        for name in entry.get("backbones", []):
            if name not in config["backbones"]:
                raise ConfigError(
                    f"config key 'datasets.{dataset}.backbones': {name!r} is not under the top-level "
                    f"'backbones' ({', '.join(config['backbones'])})"
                )
            if dims not in backbone_spatial_dims(name):
                raise ConfigError(
                    f"config key 'datasets.{dataset}.backbones': backbone {name!r} does not support "
                    f"{dims}D data"
                )
    for name in config["backbones"]:
        try:
            supported = backbone_spatial_dims(name)
        except ValueError as error:
            raise ConfigError(f"config key 'backbones.{name}': {error}") from error
        dims = {dataset: dataset_spatial_dims(entry) for dataset, entry in config["datasets"].items()}
        if not any(d in supported for d in dims.values()):
            described = ", ".join(f"{dataset!r} is {d}D" for dataset, d in dims.items())
            raise ConfigError(
                f"config key 'backbones.{name}': backbone supports "
                f"{'/'.join(map(str, supported))}D inputs but no dataset matches ({described}); "
                "use a backbone of the datasets' dimensionality"
            )
    for variant in config["variants"]:
        if variant == PRETRAIN:
            raise ConfigError(f"config key 'variants.{PRETRAIN}': the name is reserved for the pretraining stage")
        variant_head(config, variant)


def check_evaluation(config: dict[str, Any]) -> None:
    """Fail early on a Boundary-IoU width larger than the image, where the config defines the
    image size (phantoms; other datasets are checked per case at evaluation). Non-positive
    values are rejected by the schema."""
    from morse.data.recipes.phantom2d import PHANTOM_DEFAULTS
    from morse.data.recipes.phantom3d import PHANTOM3D_DEFAULTS

    for dataset, entry in config["datasets"].items():
        width = (entry.get("evaluate") or {}).get("boundary_iou_width")
        if width is None or entry["kind"] not in ("phantom2d", "phantom3d"):
            continue
        if entry["kind"] == "phantom2d":  # slice-wise: the band lies in the slice
            size = {**PHANTOM_DEFAULTS, **entry.get("phantom", {})}["size"]
            shape = (size, size)
        else:
            phantom = {**PHANTOM3D_DEFAULTS, **entry.get("phantom", {})}
            shape = (phantom.get("depth") or phantom["size"], phantom["size"], phantom["size"])
        if width > min(shape):
            raise ConfigError(
                f"config key 'datasets.{dataset}.evaluate.boundary_iou_width': {width} voxels is "
                f"larger than the image ({'x'.join(map(str, shape))}); use a narrower band "
                "(default: 2 % of the image diagonal)"
            )


def dataset_backbone_pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dataset, backbone) pairs that are trained: a backbone runs on every dataset of a
    dimensionality it supports (so one config can hold 2D and 3D datasets and backbones)."""
    from baselines import backbone_spatial_dims

    pairs = []
    for dataset, entry in config["datasets"].items():
        dims = dataset_spatial_dims(entry)
        for backbone in entry.get("backbones", config["backbones"]):
            if dims in backbone_spatial_dims(backbone):
                pairs.append((dataset, backbone))
    return pairs


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


def _resolve(
    config: dict[str, Any], dataset: str, backbone: str, variant: str, seed: int,
    head: dict[str, Any], train: dict[str, Any], protocol: str,
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
        "head": head,
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
                        dataset_train(config, dataset), protocol)
    ablation = ablation_points(config).get(variant)
    if ablation is not None:  # which ablation point this is (run.json carries it)
        resolved["ablation"] = ablation
    if protocol == "two_stage":
        resolved["init_config_hash"] = pretrain_config(config, dataset, backbone, seed)["config_hash"]
    resolved["config_hash"] = config_hash(resolved)
    return resolved


PRETRAIN = "pretrain"  # the run folder name of the backbone-only first stage (protocol two_stage)


def pretrain_config(config: dict[str, Any], dataset: str, backbone: str, seed: int) -> dict[str, Any]:
    """The resolved config of the backbone-only pretraining run of the two-stage protocol."""
    from morse.method import resolve_head_config

    train = dataset_train(config, dataset)
    train["iterations"] = train.pop("pretrain_iterations", None) or train["iterations"]
    head = resolve_head_config("baseline").to_dict()
    resolved = _resolve(config, dataset, backbone, PRETRAIN, seed, head, train, "two_stage")
    resolved["config_hash"] = config_hash(resolved)
    return resolved


def config_hash(run: dict[str, Any]) -> str:
    """A short stable hash of a resolved run config (ignoring any existing hash)."""
    payload = {k: v for k, v in run.items() if k != "config_hash"}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
