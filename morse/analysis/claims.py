"""The paper's claims as data: the registry ``config/claims.yaml`` read, validated and typed.

Each claim names the comparison it rests on (``variant``/``output`` against
``reference``/``reference_output``, or a ``trend`` over an ablated head knob), the metrics and the
claimed direction of the difference on each. The schema is ``workflow/schemas/claims.schema.yaml``;
on top of it an unknown metric and a repeated id are refused. ``morse-bench check`` reads the
registry, so a bad one fails before any job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from morse.analysis.vocabulary import COMPARED
from morse.config import REPO_ROOT, ConfigError, read_yaml
from morse.config.schema import DefaultingValidator, describe

__all__ = ["CLAIMS_PATH", "CLAIMS_SCHEMA", "Claim", "claim_pairs", "load_claims"]

CLAIMS_PATH = REPO_ROOT / "config" / "claims.yaml"
CLAIMS_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "claims.schema.yaml"
Arm = tuple[str, str]


@dataclass(frozen=True)
class Claim:
    """One claim of the paper. ``reference`` is None for a trend claim (``trend`` names the knob);
    ``metrics`` maps metric -> claimed direction of variant - reference (``higher``/``lower``)."""

    id: str
    label: str
    claim: str
    variant: str
    output: str
    metrics: dict[str, str]
    reference: str | None = None
    reference_output: str = "coarse"
    trend: str | None = None
    run_by: str | None = None  # the config files whose `make run` runs the comparison

    @property
    def arm(self) -> Arm:
        return (self.variant, self.output)

    @property
    def reference_arm(self) -> Arm | None:
        return None if self.reference is None else (self.reference, self.reference_output)


def _where(path: Path, raw: object, error: jsonschema.ValidationError) -> str:
    parts = list(error.absolute_path)
    if len(parts) >= 2 and parts[0] == "claims" and isinstance(raw, dict):
        entry = raw["claims"][parts[1]]
        name = entry.get("id") if isinstance(entry, dict) else None
        return f"{path}: claim {name!r} (claims[{parts[1]}])" if name else f"{path}: claims[{parts[1]}]"
    return f"{path}: " + (".".join(map(str, parts)) or "<top level>")


def _message(path: Path, raw: object, error: jsonschema.ValidationError) -> str:
    """One line naming the claim, the key and the fix."""
    where = _where(path, raw, error)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        return (f"{where}: unknown key {', '.join(map(repr, unknown))}; known keys: {', '.join(known)} "
                "(fix the spelling or remove it)")  # fmt: skip
    if error.validator == "oneOf":
        return (f"{where}: give exactly one of 'reference' (a paired comparison) and 'trend' "
                "(an ablated knob)")  # fmt: skip
    key = ".".join(map(str, list(error.absolute_path)[2:]))
    return f"{where}{f' key {key!r}' if key else ''}: {describe(error)}"


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """Read and validate a claims registry (default ``config/claims.yaml``); a bad one raises
    :class:`~morse.config.ConfigError` naming the file, the claim and the key."""
    path = Path(path) if path is not None else CLAIMS_PATH
    raw = read_yaml(path)
    schema = yaml.safe_load(CLAIMS_SCHEMA.read_text())
    errors = sorted(DefaultingValidator(schema).iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_message(path, raw, errors[0]))
    claims = [Claim(**entry) for entry in raw["claims"]]
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:
            raise ConfigError(f"{path}: claim id {claim.id!r} is given twice; ids must be unique")
        seen.add(claim.id)
        unknown = [m for m in claim.metrics if m not in COMPARED]
        if unknown:
            raise ConfigError(f"{path}: claim {claim.id!r}: unknown metric {unknown[0]!r}; the compared "
                              f"metrics are {', '.join(COMPARED)}")  # fmt: skip
    return claims


def claim_pairs(claims: Sequence[Claim]) -> list[tuple[Arm, Arm]]:
    """The (variant arm, reference arm) pairs of the comparison claims, in registry order."""
    pairs = [(c.arm, c.reference_arm) for c in claims if c.reference_arm is not None]
    return list(dict.fromkeys(pairs))
