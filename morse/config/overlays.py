"""Studies as overlays of an experiment: ``--configfile BASE OVERLAY...`` resolved to one config.

The first file is a complete experiment (the base); every later file is an overlay that adds a
study (an ablation sweep, a cost sweep) to it and may set only :data:`OVERLAY_KEYS`. Each of those
keys *replaces* the base's value whole (Snakemake's own merge of several config files is a deep
dict update, under which an overlay's ``variants`` would be added to the base's instead of
replacing them), except ``datasets``, which in an overlay is a list of the base's dataset names to
keep (the backbones only the dropped datasets name go with them). Dataset, backbone, head and
training settings therefore come from the base and cannot drift; an overlay that sets one is
refused with the key and the fix.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from morse.config.schema import ConfigError

__all__ = ["OVERLAY_KEYS", "apply_overlay", "config_paths", "mapping", "refuse_lone_overlay"]

#: The keys an overlay may set: its results folder, the base datasets it keeps, and its sweep.
OVERLAY_KEYS = ("experiment", "datasets", "variants", "ablations", "seeds", "claims")


def config_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """One path or several, as a list of paths (the base first)."""
    if isinstance(paths, str | Path):
        return [Path(paths)]
    if not paths:
        raise ConfigError("no config file given: give an experiment YAML (e.g. config/config.yaml)")
    return [Path(p) for p in paths]


def mapping(raw: Any, path: Path) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping of keys (experiment, datasets, ...)")
    return raw


def refuse_lone_overlay(config: dict[str, Any], path: Path) -> None:
    """Refuse an overlay given as the first (base) file: it has no datasets or training settings."""
    looks_like_overlay = bool(config) and set(config) <= set(OVERLAY_KEYS) and "datasets" not in config
    if isinstance(config.get("datasets"), list) or looks_like_overlay:
        raise ConfigError(f"{path} is an overlay (a study without its own datasets and training settings): give "
                          f"it after its base experiment, e.g. --configfile config/config.yaml {path} "
                          f"(make run CONFIG=\"config/config.yaml {path}\")")  # fmt: skip


def apply_overlay(base: dict[str, Any], overlay: dict[str, Any], path: str | Path,
                  base_path: str | Path = "the base config") -> dict[str, Any]:  # fmt: skip
    """``base`` with the study of ``overlay`` (read from ``path``) laid over it; both unchanged."""
    refused = [key for key in overlay if key not in OVERLAY_KEYS]
    if refused:
        raise ConfigError(
            f"{path}: key {refused[0]!r} cannot be set by an overlay (it comes from {base_path}, so the "
            f"study cannot drift from it); an overlay sets only {', '.join(OVERLAY_KEYS)}: change "
            f"{refused[0]!r} in {base_path}, or make {path} a complete experiment given alone"
        )
    if "experiment" not in overlay:
        raise ConfigError(f"{path}: an overlay must name its own 'experiment' (its results folder), or its "
                          f"runs would mix with those of {base_path}'s experiment; add e.g. "
                          f"experiment: {base.get('experiment', 'base')}-study")  # fmt: skip
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if key != "datasets":
            out[key] = copy.deepcopy(value)
            continue
        known = list(base.get("datasets") or {})
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: 'datasets' in an overlay is a list of the names of {base_path}'s "
                              f"datasets to keep ({', '.join(known)}), e.g. datasets: [{known[0] if known else 'name'}]")  # fmt: skip
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ConfigError(f"{path}: dataset {unknown[0]!r} is not in {base_path} ({', '.join(known)}); "
                              "an overlay keeps datasets of its base, it cannot add one")  # fmt: skip
        out["datasets"] = {name: out["datasets"][name] for name in value}
        out["backbones"] = _kept_backbones(out)
    return out


def _kept_backbones(config: dict[str, Any]) -> dict[str, Any]:
    """The base's backbones that the kept datasets name (all of them when a dataset names none,
    as every backbone of its dimensionality then runs on it)."""
    backbones = config.get("backbones") or {}
    named = [entry.get("backbones") if isinstance(entry, dict) else None for entry in config["datasets"].values()]
    if any(names is None for names in named):
        return backbones
    keep = {name for names in named for name in names}
    return {name: options for name, options in backbones.items() if name in keep}
