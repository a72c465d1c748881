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


def describe(error: jsonschema.ValidationError) -> str:
    """A schema error message, with the fix for the common integer-as-float case."""
    value = error.instance
    if error.validator == "type" and isinstance(value, float) and value.is_integer():
        return f"{value!r} must be an integer: write {int(value)} (without the decimal point)"
    return error.message
