"""Experiment configuration: schema validation, defaults, and the resolved per-run config.

The same functions serve the Snakefile (which also validates with Snakemake's own ``validate``)
and the ``morse-bench`` command line, so a run started by hand sees exactly what Snakemake sees.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


# Settings that do not change the trained weights: recorded in run.json but left out of the run's
# identity hash, so changing them neither retrains nor (except `evaluate`) re-evaluates. Samples do
# not depend on the loader workers (tested). The thread count does on CPU: torch's CPU kernels
# split their reductions by thread and round differently (measured: 4 iterations on 1 and on 2
# threads differ in 80 of 136 tensors), so `threads` is part of the identity unless the run is on
# CUDA, where it only sizes the CPU-side thread pool.
RUNTIME_TRAIN_KEYS = ("log_every", "checkpoint_every", "num_workers")
CUDA_RUNTIME_TRAIN_KEYS = (*RUNTIME_TRAIN_KEYS, "threads")
RUNTIME_RUN_KEYS = ("evaluate",)


def _runtime_train_keys(run: dict[str, Any]) -> tuple[str, ...]:
    return CUDA_RUNTIME_TRAIN_KEYS if run.get("device") == "cuda" else RUNTIME_TRAIN_KEYS


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


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 4.0 as an integer; the training code does not (range(4.0) fails), so an
# integer written as a float is refused with a message saying how to write it.
_StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)
_DefaultingValidator = _extend_with_defaults(_StrictValidator)


def _describe(error: jsonschema.ValidationError) -> str:
    """A schema error message, with the fix for the common integer-as-float case."""
    value = error.instance
    if error.validator == "type" and isinstance(value, float) and value.is_integer():
        return f"{value!r} must be an integer: write {int(value)} (without the decimal point)"
    return error.message


def check_safe_names(config: dict[str, Any]) -> None:
    """Refuse dataset, backbone and variant names that are unsafe as folder names and shell words
    (the schema's ``propertyNames`` patterns), naming the name and what is allowed."""
    properties = load_schema()["properties"]
    for block in ("datasets", "backbones", "variants"):
        pattern = properties[block]["propertyNames"]["pattern"]
        names = config.get(block)
        if not isinstance(names, dict):
            continue
        for name in names:
            if not isinstance(name, str) or not re.match(pattern, name):
                allowed = "letters, digits, '_', '.', '-'" + (", ':'" if block == "backbones" else "")
                raise ConfigError(
                    f"config key '{block}': name {name!r} is not allowed (it becomes a folder name and "
                    f"a shell word); use only {allowed}, starting with a letter or digit"
                )


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` against the schema, fill defaults, and check names that the schema
    cannot know (backbones, variants, head knobs). Returns a validated deep copy."""
    config = copy.deepcopy(config)
    check_safe_names(config)
    validator = _DefaultingValidator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors:
            where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
            lines.append(f"  config key '{where}': {_describe(error)}")
        if len(lines) == 1:
            raise ConfigError("invalid configuration:" + lines[0][1:])
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    config["variants"] = {**config["variants"], **ablation_variants(config)}
    check_safe_names(config)  # the ablation variants' generated names too
    check_names(config)
    check_evaluation(config)
    train_schema = load_schema()["properties"]["train"]
    for dataset, entry in config["datasets"].items():
        merged = dataset_train(config, dataset)
        problems = [_describe(e) for e in _StrictValidator(train_schema).iter_errors(merged)]
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
    config = read_yaml(path) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping of keys (experiment, datasets, ...)")
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
    from morse.data.recipes.registry import dataset_dims

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
    check_reference_variant(config)
    check_input_sizes(config)


REFERENCE_VARIANT = "baseline"  # what `compare` and the report measure every variant against


def check_reference_variant(config: dict[str, Any]) -> None:
    """Every dataset runs the reference variant (the bare backbone) that compare assumes."""
    if REFERENCE_VARIANT not in config["variants"]:
        raise ConfigError(
            f"config key 'variants': no {REFERENCE_VARIANT!r} variant; compare and the report measure "
            f"every variant against it: add `{REFERENCE_VARIANT}: {{}}` under variants"
        )
    for dataset, entry in config["datasets"].items():
        if "variants" in entry and REFERENCE_VARIANT not in entry["variants"]:
            raise ConfigError(
                f"config key 'datasets.{dataset}.variants': {entry['variants']} lacks "
                f"{REFERENCE_VARIANT!r}, which compare measures every variant against: add it to the list"
            )


def check_input_sizes(config: dict[str, Any]) -> None:
    """Ask each backbone whether it accepts the patch size of every dataset it trains on (a
    builder may define ``input_size_problem(patch_size, options) -> str | None``)."""
    from baselines.input_sizes import BUILTIN_INPUT_SIZE_CHECKS
    from baselines.registry import BUILTIN_SPATIAL_DIMS

    for dataset, backbone in dataset_backbone_pairs(config):
        if backbone in BUILTIN_SPATIAL_DIMS:  # the built-ins' rules need no torch
            check = BUILTIN_INPUT_SIZE_CHECKS.get(backbone)
        else:
            from baselines import get_backbone_spec

            check = getattr(get_backbone_spec(backbone).builder, "input_size_problem", None)
        patch_size = dataset_train(config, dataset)["patch_size"]
        problem = check(list(patch_size), config["backbones"][backbone] or {}) if check else None
        if problem:
            raise ConfigError(
                f"config key 'datasets.{dataset}.train.patch_size' / 'backbones.{backbone}': {problem}"
            )


def check_device(config: dict[str, Any], cuda_available: Callable[[], bool] | None = None) -> None:
    """With ``device: cuda``, refuse a machine where torch sees no CUDA device (before any job)."""
    if config.get("device") != "cuda":
        return
    if not (cuda_available or probe_cuda)():
        raise ConfigError(
            "config key 'device': cuda, but torch finds no CUDA device on this machine; run on a GPU "
            "machine (or submit with --profile workflow/profiles/slurm), or set `device: cpu` or `auto`"
        )


def probe_cuda() -> bool:
    """Whether torch sees a CUDA device, asked in a subprocess (the caller need not import torch)."""
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and probe.stdout.strip() == "True"


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


def run_identity(run: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved run config that determines the trained weights: everything but
    the evaluation, logging, checkpoint-interval and data-loader-worker settings (and, on CUDA,
    the CPU thread count)."""
    runtime = _runtime_train_keys(run)
    identity = {k: v for k, v in run.items() if k not in RUNTIME_RUN_KEYS}
    identity["train"] = {k: v for k, v in run["train"].items() if k not in runtime}
    return identity


def run_settings(run: dict[str, Any]) -> dict[str, Any]:
    """The complement of :func:`run_identity`: settings recorded in run.json that do not retrain."""
    settings = {k: run[k] for k in RUNTIME_RUN_KEYS if k in run}
    settings["train"] = {k: run["train"][k] for k in _runtime_train_keys(run) if k in run["train"]}
    return settings


def merge_settings(run: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """``run`` with the non-identity ``settings`` (from :func:`run_settings`) laid over it."""
    merged = {**run, **{k: v for k, v in settings.items() if k != "train"}}
    merged["train"] = {**run["train"], **settings.get("train", {})}
    return merged


def config_hash(run: dict[str, Any]) -> str:
    """A short stable hash of what in a resolved run config changes the trained weights
    (:func:`run_identity`; ignoring any existing hash)."""
    payload = {k: v for k, v in run_identity(run).items() if k != "config_hash"}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
