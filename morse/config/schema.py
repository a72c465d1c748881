"""The experiment config's JSON schema and the validators that read it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
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


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 4.0 as an integer; the training code does not (range(4.0) fails), so an
# integer written as a float is refused with a message saying how to write it.
StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)
DefaultingValidator = _extend_with_defaults(StrictValidator)


# Keys of a dataset's `evaluate` block, which users put under the top-level `evaluate` instead.
_DATASET_EVALUATE_KEYS = ("nsd_tolerance_mm", "boundary_iou_width")


def _number_written_as_text(error: jsonschema.ValidationError) -> str | None:
    """The fix for a number YAML read as a string: YAML 1.1 (PyYAML, Snakemake) reads ``1e-2``
    as text because it has no decimal point."""
    value, expected = error.instance, error.validator_value
    expected = expected if isinstance(expected, list) else [expected]
    if not isinstance(value, str) or not {"number", "integer"} & set(expected):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    written = str(int(number)) if "integer" in expected and number.is_integer() else repr(number)
    return (f"{value!r} is text, not a number (YAML 1.1 reads exponent notation without a decimal "
            f"point as a string): write {written}")


def describe(error: jsonschema.ValidationError) -> str:
    """A schema error message, with the fix for the common mistakes: an integer written as a
    float, a number YAML read as text, a dataset setting under the top level, too few classes."""
    value, path = error.instance, list(error.absolute_path)
    if error.validator == "type" and isinstance(value, float) and value.is_integer():
        return f"{value!r} must be an integer: write {int(value)} (without the decimal point)"
    if error.validator == "type" and _number_written_as_text(error):
        return str(_number_written_as_text(error))
    if error.validator == "additionalProperties" and path == ["evaluate"] and isinstance(value, dict):
        misplaced = [key for key in _DATASET_EVALUATE_KEYS if key in value]
        if misplaced:
            return (f"{error.message}; {', '.join(misplaced)} is set per dataset: move it under "
                    f"datasets.<name>.evaluate")
    if error.validator == "minProperties" and path[-1:] == ["classes"]:
        return (f"{error.message}: `classes` needs the background and at least one class to "
                "segment, e.g. {0: background, 255: vessel}")
    return error.message
