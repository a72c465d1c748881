"""The published numbers (``config/reference_results.csv``) and the regime settings, checked at
``morse-bench check``: every row names a dataset *kind* the suite knows, a backbone it can build
(or one the config names) and a metric of the analysis vocabulary; at most one field reference
(``role: backbone_reference``) per kind x backbone x metric; ``regime.min_reference_fraction``
in (0, 1].

Reference rows refer to dataset kinds (``acdc``, ``synapse``), never to the experiment's own
dataset names: the analysis maps a dataset to its rows through the kind its runs record.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from baselines.registry import BUILTIN_SPATIAL_DIMS
from morse.config.schema import REPO_ROOT, ConfigError, load_schema

__all__ = ["BACKBONE_REFERENCE", "REFERENCE_COLUMNS", "REFERENCE_RESULTS", "ROLES", "check_references",
           "check_regime"]  # fmt: skip

#: The published numbers shipped with the repository.
REFERENCE_RESULTS = REPO_ROOT / "config" / "reference_results.csv"
#: A row that is the field's reference for the backbone (the regime judgement reads these).
BACKBONE_REFERENCE = "backbone_reference"
#: ``published``: a number set beside ours in the report's "Ours vs published" table only.
ROLES = ("published", BACKBONE_REFERENCE)
#: Kinds that read many different data sets (any Decathlon task, any nnU-Net dataset, any image
#: folders): a field reference keyed by such a kind would be set beside every one of them.
GENERIC_KINDS = ("msd", "nnunet", "images2d")
REFERENCE_COLUMNS = ["dataset", "backbone", "variant", "output", "class", "metric", "value", "unit",
                     "source", "table", "note", "role", "protocol"]  # fmt: skip


def check_regime(config: dict[str, Any]) -> None:
    """``regime.min_reference_fraction`` is a finite number in (0, 1] (the schema lets NaN pass)."""
    value = (config.get("regime") or {}).get("min_reference_fraction", 0.9)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and 0.0 < value <= 1.0):  # fmt: skip
        raise ConfigError(
            f"config key 'regime.min_reference_fraction': {value!r} must be a number in (0, 1], "
            "the share of the published reference Dice a trained backbone reaches (default 0.9)"
        )


def _known(config: dict[str, Any]) -> dict[str, set[str]]:
    from morse.analysis.vocabulary import METRICS  # here: the vocabulary imports morse.config

    kinds = load_schema()["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]["enum"]
    return {"dataset": set(kinds), "backbone": set(BUILTIN_SPATIAL_DIMS) | set(config.get("backbones") or {}),
            "metric": set(METRICS), "role": set(ROLES)}  # fmt: skip


def check_references(config: dict[str, Any], path: Path | None = None) -> None:
    """Refuse a reference row with an unknown dataset kind, backbone, metric or role, a value that
    is not a number, or a second field reference for one kind x backbone x metric; the message
    names the file, the row (its line) and the fix."""
    path = Path(path or REFERENCE_RESULTS)
    if not path.is_file():
        return
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REFERENCE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}: missing column(s) {missing}; the columns are {', '.join(REFERENCE_COLUMNS)}")
        rows = list(reader)
    known = _known(config)
    seen: dict[tuple[str, str, str], int] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line} ({row['dataset']} / {row['backbone']} / {row['metric']})"
        for column, names in known.items():
            value = (row[column] or "").strip() or ("published" if column == "role" else "")
            if value not in names:
                raise ConfigError(
                    f"{where}: column '{column}' has unknown value {value!r}; known: "
                    f"{', '.join(sorted(names))}" + (" (reference rows name dataset kinds, not "
                                                     "experiment dataset names)" if column == "dataset" else "")
                )  # fmt: skip
        try:
            number = float(row["value"])
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ConfigError(f"{where}: column 'value' is {row['value']!r}; give the published number")
        if (row["role"] or "").strip() == BACKBONE_REFERENCE:
            if row["dataset"].strip() in GENERIC_KINDS:
                raise ConfigError(
                    f"{where}: kind {row['dataset'].strip()!r} reads many data sets (every task or folder "
                    f"of that kind), so a {BACKBONE_REFERENCE} for it would judge all of them; set its role "
                    f"to 'published' (those datasets are judged by convergence alone)"
                )
            key = (row["dataset"], row["backbone"], row["metric"])
            if key in seen:
                raise ConfigError(
                    f"{where}: a second {BACKBONE_REFERENCE} for {' / '.join(key)} (the first is on line "
                    f"{seen[key]}); keep one and set the other's role to 'published'"
                )
            seen[key] = line
