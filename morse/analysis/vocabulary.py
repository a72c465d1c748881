"""The analysis vocabulary: every name, label, order, colour and metric direction, defined once.

Adding a metric to the comparisons, summaries, tables and figures is one :class:`Metric` entry
in :data:`METRICS` (the per-run ``metrics.csv`` must of course have the column).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from morse.config import PRETRAIN

__all__ = [
    "COMPARED",
    "HEADLINE",
    "METRICS",
    "OUTPUT_LABELS",
    "PRETRAIN",
    "PRIMARY",
    "SUMMARISED",
    "Metric",
    "digits",
    "display_name",
    "higher_is_better",
    "metric_label",
    "output_rank",
    "variant_colour",
    "variant_order",
    "variant_rank",
]


@dataclass(frozen=True)
class Metric:
    """One metric column: how it is named, which way is better, how it is printed, where used.

    ``compared``: paired statistics (``comparisons.csv``); ``headline``: the verdict, the gain
    section, the per-class, paired-cases, ablation and cost figures and tables; ``table``: a
    per-class summary table in the report. ``unit``: the word after a difference in a sentence.
    """

    name: str
    label: str
    higher_is_better: bool
    digits: int
    unit: str
    compared: bool = False
    headline: bool = False
    table: bool = False


#: Every metric the analysis knows, in display order.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("dice", "Dice", True, 3, "Dice", compared=True, headline=True, table=True),
        Metric("hd95_mm", "HD95 (mm)", False, 2, "mm HD95", compared=True, headline=True,
               table=True),  # fmt: skip
        Metric("hd95_vox", "HD95 (voxels)", False, 2, "voxels HD95", compared=True, table=True),
        Metric("nsd", "NSD", True, 3, "NSD", compared=True, headline=True, table=True),
        Metric("boundary_iou", "Boundary IoU", True, 3, "Boundary IoU", compared=True,
               headline=True, table=True),  # fmt: skip
        Metric("hd95_mm_monai", "HD95 (mm, MONAI convention)", False, 2, "mm HD95 (MONAI)",
               compared=True),  # fmt: skip
        Metric("dice_authors", "Dice (authors' convention)", True, 3, "Dice"),
        Metric("hd95_vox_authors", "HD95 (voxels, authors' convention)", False, 2, "voxels HD95"),
        Metric("asd_vox", "ASD (voxels)", False, 2, "voxels ASD"),
    )
}
#: Metrics with paired statistics, those the report leads with, those with a summary table.
COMPARED = tuple(m for m, spec in METRICS.items() if spec.compared)
HEADLINE = tuple(m for m, spec in METRICS.items() if spec.headline)
SUMMARISED = tuple(m for m, spec in METRICS.items() if spec.table)
#: The metric whose Pareto front the cost figure draws (best score for at most that cost).
PRIMARY = "dice"


def _metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValueError(
            f"unknown metric {name!r}; known: {', '.join(METRICS)} "
            "(add an entry to morse/analysis/vocabulary.py METRICS)"
        )
    return METRICS[name]


def higher_is_better(metric: str) -> bool:
    """True for overlap metrics (Dice, NSD), False for distances (HD95, ASD)."""
    return _metric(metric).higher_is_better


def metric_label(metric: str) -> str:
    """Display label, e.g. ``HD95 (mm)``; unknown names are shown as they are."""
    return METRICS[metric].label if metric in METRICS else metric


def digits(metric: str) -> int:
    """Decimals a metric is printed with (3 for overlap scores, 2 for distances)."""
    return METRICS[metric].digits if metric in METRICS else 3


# ---------------------------------------------------------------------------------------------
# variants and outputs
# ---------------------------------------------------------------------------------------------
#: The suite's variants in their canonical order, each with its fixed colour (index into the
#: seaborn "colorblind" palette). Any other variant (ablations, user-named ones) comes after
#: them, alphabetically, with a colour from the spare indices chosen by a stable hash of its name.
_KNOWN_VARIANTS = {
    "baseline": 7,
    "pointrend": 1,
    "implicit_pointrend": 2,
    "morse": 0,
    "morse_deterministic": 4,
}
_SPARE = (3, 5, 6, 8, 9)
_DISPLAY = {
    "morse": "MORSE",
    "morse_deterministic": "MORSE (deterministic gating)",
    "pointrend": "PointRend",
    "implicit_pointrend": "Implicit PointRend",
}
#: Scored outputs: coarse (the backbone's logits) before refined (after point rendering).
OUTPUT_LABELS = {
    "coarse": "coarse (backbone logits; what the authors' 2D test scripts score)",
    "refined": "refined (point-rendered logits)",
}
_OUTPUT_ORDER = {"coarse": 0, "refined": 1}


def variant_rank(variant: str) -> tuple[int, str]:
    """Sort key: the known variants in canonical order, then the others by name."""
    order = list(_KNOWN_VARIANTS)
    return (order.index(variant) if variant in order else len(order), variant)


def variant_order(variants: Iterable[str]) -> list[str]:
    """Distinct variant names in canonical order."""
    return sorted(set(variants), key=variant_rank)


def output_rank(output: str) -> int:
    """Sort key of a scored output: coarse, refined, anything else."""
    return _OUTPUT_ORDER.get(output, 2)


def display_name(variant: str) -> str:
    """Name used in sentences (``MORSE``, ``PointRend``...)."""
    return _DISPLAY.get(variant, variant)


@functools.cache
def _palette() -> list[str]:
    import seaborn as sns  # here, so that the statistics do not load the plotting stack

    return list(sns.color_palette("colorblind", 10).as_hex())


def variant_colour(variant: str) -> str:
    """Colour (hex) of a variant, identical in every figure and every report."""
    if variant in _KNOWN_VARIANTS:
        return _palette()[_KNOWN_VARIANTS[variant]]
    return _palette()[_SPARE[zlib.crc32(variant.encode()) % len(_SPARE)]]
