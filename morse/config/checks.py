"""What the schema cannot check: names, backbones against datasets, input sizes, backbone
options and expert counts, class tables, finite numbers, evaluation widths and tolerances, the
per-dataset training settings and the device."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from baselines import backbone_spatial_dims, get_backbone_spec
from baselines.input_sizes import (
    BUILTIN_FEATURE_LEVELS,
    BUILTIN_INPUT_SIZE_CHECKS,
    BUILTIN_OPTION_CHECKS,
)
from baselines.registry import BUILTIN_SPATIAL_DIMS
from morse import device
from morse.config.datasets import dataset_backbone_pairs, dataset_spatial_dims, dataset_train
from morse.config.runs import run_matrix
from morse.config.schema import ConfigError, StrictValidator, describe, load_schema
from morse.config.variants import PRETRAIN, variant_head
from morse.data.recipes import phantom2d, phantom3d

REFERENCE_VARIANT = "baseline"  # what `compare` and the report measure every variant against

# Dataset kinds whose config defines the image size (for the Boundary-IoU width and the NSD
# tolerance checks).
_IMAGE_SHAPES = {"phantom2d": phantom2d.image_shape, "phantom3d": phantom3d.image_shape}
_FIELDS_OF_VIEW = {"phantom2d": phantom2d.smallest_field_of_view_mm,
                   "phantom3d": phantom3d.smallest_field_of_view_mm}


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


def check_names(config: dict[str, Any]) -> None:
    """Fail early on unknown backbones/variants/dataset kinds and 2D/3D mismatches."""
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
    for dataset, backbone in dataset_backbone_pairs(config):
        if backbone in BUILTIN_SPATIAL_DIMS:  # the built-ins' rules need no torch
            check = BUILTIN_INPUT_SIZE_CHECKS.get(backbone)
        else:
            check = getattr(get_backbone_spec(backbone).builder, "input_size_problem", None)
        patch_size = dataset_train(config, dataset)["patch_size"]
        problem = check(list(patch_size), config["backbones"][backbone] or {}) if check else None
        if problem:
            raise ConfigError(
                f"config key 'datasets.{dataset}.train.patch_size' / 'backbones.{backbone}': {problem}"
            )


def check_evaluation(config: dict[str, Any]) -> None:
    """Fail early on a Boundary-IoU width or an NSD tolerance larger than the image, where the
    config defines the image size (phantoms; other datasets are checked per case at evaluation).
    Non-positive values are rejected by the schema."""
    for dataset, entry in config["datasets"].items():
        evaluate = entry.get("evaluate") or {}
        if entry["kind"] not in _IMAGE_SHAPES:
            continue
        width, shape = evaluate.get("boundary_iou_width"), _IMAGE_SHAPES[entry["kind"]](entry)
        if width is not None and width > min(shape):
            raise ConfigError(
                f"config key 'datasets.{dataset}.evaluate.boundary_iou_width': {width} voxels is "
                f"larger than the image ({'x'.join(map(str, shape))}); use a narrower band "
                "(default: 2 % of the image diagonal)"
            )
        tolerance, fov = evaluate.get("nsd_tolerance_mm"), _FIELDS_OF_VIEW[entry["kind"]](entry)
        if tolerance is not None and tolerance > fov:
            raise ConfigError(
                f"config key 'datasets.{dataset}.evaluate.nsd_tolerance_mm': {tolerance} mm is larger "
                f"than the images (the smallest case measures {fov:.1f} mm corner to corner); use a "
                "few voxel widths (default: one, the case's smallest voxel side)"
            )


def check_backbones(config: dict[str, Any]) -> None:
    """The built-in backbones' options, and every head's expert count against the feature maps
    of each backbone it trains on (MORSE's K defaults to their number), before any job."""
    for name, options in config["backbones"].items():
        check = BUILTIN_OPTION_CHECKS.get(name)
        problem = check(options or {}) if check else None
        if problem:
            raise ConfigError(f"config key 'backbones.{name}': {problem}")
    for backbone, variant in sorted({(b, v) for _, b, v in run_matrix(config)}):
        head = variant_head(config, variant)
        if head.has_head and backbone in BUILTIN_FEATURE_LEVELS:
            levels = BUILTIN_FEATURE_LEVELS[backbone](config["backbones"][backbone] or {})
            try:
                head.experts(levels)
            except ValueError as error:
                raise ConfigError(
                    f"config key 'variants.{variant}' / 'method': on backbone {backbone!r} ({levels} "
                    f"feature maps, so num_experts defaults to {levels}): {error}"
                ) from error


def check_classes(config: dict[str, Any]) -> None:
    """A dataset's ``classes`` table names its background exactly ``background`` (class 0)."""
    for dataset, entry in config["datasets"].items():
        names = [str(name) for name in (entry.get("classes") or {}).values()]
        if names and "background" not in names:
            near = [name for name in names if name.strip().lower() == "background"]
            spelled = f" ({near[0]!r} must be written 'background', in lower case)" if near else ""
            raise ConfigError(
                f"config key 'datasets.{dataset}.classes': {entry['classes']} names no value "
                f"'background'{spelled}; name the mask value of unlabelled pixels background, "
                "e.g. {0: background, 255: vessel}"
            )


def check_finite_numbers(value: Any, where: str = "") -> None:
    """Refuse NaN and infinity anywhere in the config (YAML reads ``.nan`` and ``.inf``; the
    schema's bounds do not catch NaN), naming the key."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{where}': {value} is not a finite number; write a number "
                          "such as 0.01")
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        check_finite_numbers(item, f"{where}.{key}" if where else str(key))


def check_dataset_train(config: dict[str, Any]) -> None:
    """Each dataset's training settings (the top-level ``train`` with its own overrides) against
    the schema, and its patch size against its dimensionality."""
    train_schema = load_schema()["properties"]["train"]
    for dataset, entry in config["datasets"].items():
        merged = dataset_train(config, dataset)
        problems = [describe(e) for e in StrictValidator(train_schema).iter_errors(merged)]
        if problems:
            raise ConfigError(f"config key 'datasets.{dataset}.train': {'; '.join(problems)}")
        check_stopping(merged, entry.get("train") or {}, dataset)
        if len(merged["patch_size"]) != dataset_spatial_dims(entry):
            raise ConfigError(
                f"config key 'datasets.{dataset}.train.patch_size': {merged['patch_size']} has "
                f"{len(merged['patch_size'])} sides but dataset {dataset!r} is "
                f"{dataset_spatial_dims(entry)}D; give it a patch_size under datasets.{dataset}.train"
            )


def check_stopping(merged: dict[str, Any], own: dict[str, Any], dataset: str) -> None:
    """``until: plateau`` needs ``max_iterations``; ``max_iterations`` is only used with it.
    ``own`` is the dataset's own overrides (to name the key where it was given)."""
    def key(name: str) -> str:
        return f"datasets.{dataset}.train.{name}" if name in own else f"train.{name}"

    if merged.get("until") == "plateau" and "max_iterations" not in merged:
        raise ConfigError(f"config key '{key('until')}': plateau stops each stage on its validation "
                          f"plateau and needs a cap: set train.max_iterations")
    if merged.get("until", "iterations") != "plateau" and "max_iterations" in merged:
        raise ConfigError(f"config key '{key('max_iterations')}': only used with train.until: plateau; "
                          f"remove it, or set until: plateau (fixed counts: train.iterations)")


def check_device(config: dict[str, Any], cuda_available: Callable[[], bool] | None = None) -> None:
    """With ``device: cuda``, refuse a machine where torch sees no CUDA device (before any job)."""
    if config.get("device") != "cuda":
        return
    if not (cuda_available or device.cuda_available)():
        raise ConfigError(
            "config key 'device': cuda, but torch finds no CUDA device on this machine; run on a GPU "
            "machine (or submit with --profile workflow/profiles/slurm), or set `device: cpu` or `auto`"
        )

