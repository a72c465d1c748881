"""Variants: each name's head configuration, and the variants the ``ablations`` block generates."""

from __future__ import annotations

from typing import Any

from morse.config.schema import ConfigError
from morse.method.config import VARIANTS, HeadConfig, resolve_head_config

PRETRAIN = "pretrain"  # the run folder name of the backbone-only first stage (protocol two_stage)


def variant_head(config: dict[str, Any], variant: str) -> HeadConfig:
    """Resolve a variant name to its full, checked head configuration."""
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
        return resolve_head_config(base, overrides)
    except ValueError as error:
        raise ConfigError(f"config key 'variants.{variant}' / 'method': {error}") from error


def ablation_name(base: str, knob: str, value: Any) -> str:
    """The variant name of one ablation point, e.g. ``morse-num_experts-3``."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{base}-{knob}-{text}"


def ablation_identities(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``ablations`` block as generated variant name -> the identity ``{base, knob, value}``
    of its ablation point: one point per knob value (recorded in the run config as ``ablation``,
    so the analysis never parses variant names)."""
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
    for name, point in ablation_identities(config).items():
        overrides = dict(config["variants"].get(point["base"]) or {})
        overrides.setdefault("base", point["base"])
        overrides[point["knob"]] = point["value"]
        variants[name] = overrides
    return variants


def check_ablation_names(config: dict[str, Any]) -> None:
    """Refuse a variant of the config whose name is also an ablation point's, with another
    definition: the ablation's would silently replace it (one name, one set of runs)."""
    for name, definition in ablation_variants(config).items():
        own = config["variants"].get(name)
        if own is not None and own != definition:
            point = ablation_identities(config)[name]
            raise ConfigError(
                f"config key 'variants.{name}': {own} is also the name of the ablation point "
                f"ablations.knobs.{point['knob']}: {point['value']!r} of {point['base']!r} ({definition}); "
                "rename the variant or remove that value from the ablation"
            )
