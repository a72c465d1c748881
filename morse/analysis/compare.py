"""The compare step: the paired statistics of every variant against the reference, and the
regime they were measured in, judged once here for the report and ``comparisons.csv``'s readers.

Reads (through :mod:`morse.analysis.inputs`) the aggregated ``metrics.csv``, and where given the
aggregated ``refinement.csv``, the run records of the variant and pretrain runs, the published
references and the snapshot metrics ``budget_metrics.csv``; returns the tables to write, by file
name: ``comparisons.csv`` (with ``adequacy`` and ``budget_trend``), ``backbone_adequacy.csv``,
``head_adequacy.csv``, ``budget_comparisons.csv``, ``budget_trends.csv`` and the trend over each
ablated knob, ``ablation_trends.csv`` (:mod:`morse.analysis.ablation_trends`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from morse.analysis.ablation_trends import ablation_trends
from morse.analysis.inputs.regime import read_budget_metrics
from morse.analysis.inputs.runs import Run, read_runs
from morse.analysis.inputs.tables import read_comparison_metrics, read_references, read_refinement
from morse.analysis.regime.adequacy import with_regime
from morse.analysis.regime.backbone import backbone_adequacy
from morse.analysis.regime.budget import budget_comparisons, budget_trends
from morse.analysis.regime.heads import head_adequacy
from morse.analysis.stats import paired_comparisons
from morse.config import REFERENCE_VARIANT

__all__ = ["OUTPUTS", "compare_tables", "judge_regime"]

#: The files the compare step writes, next to each other; comparisons.csv is named by the caller.
OUTPUTS = ("backbone_adequacy.csv", "head_adequacy.csv", "budget_comparisons.csv", "budget_trends.csv",
           "ablation_trends.csv")


def judge_regime(
    comparisons: pd.DataFrame,
    metrics: pd.DataFrame,
    refinement: pd.DataFrame | None,
    runs: Sequence[Run],
    pretrain: Sequence[Run],
    references: pd.DataFrame,
    budget: pd.DataFrame,
    reference_variant: str = REFERENCE_VARIANT,
    min_reference_fraction: float = 0.9,
    n_resamples: int = 10000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """The regime of the ``comparisons`` (frames already read): by file name, ``comparisons.csv``
    with ``adequacy`` and ``budget_trend`` set, and the four regime tables (the first four of
    :data:`OUTPUTS`)."""
    if not 0.0 < min_reference_fraction <= 1.0:
        raise ValueError(f"--min-reference-fraction {min_reference_fraction} must lie in (0, 1] "
                         "(config key regime.min_reference_fraction)")
    heads = head_adequacy(refinement, metrics, runs, n_resamples=n_resamples, seed=seed)
    backbones = backbone_adequacy(runs, pretrain, metrics, references, min_reference_fraction, reference_variant)
    budget_rows = budget_comparisons(budget, reference_variant, n_resamples=n_resamples, seed=seed)
    trends = budget_trends(budget_rows)
    return {
        "comparisons.csv": with_regime(comparisons, backbones, heads, trends, reference_variant),
        "backbone_adequacy.csv": backbones,
        "head_adequacy.csv": heads,
        "budget_comparisons.csv": budget_rows,
        "budget_trends.csv": trends,
    }


def compare_tables(
    metrics: Path,
    reference_variant: str = REFERENCE_VARIANT,
    n_resamples: int = 10000,
    seed: int = 0,
    refinement: Path | None = None,
    runs: Sequence[Path] = (),
    pretrain_runs: Sequence[Path] = (),
    references: Path | None = None,
    budget: Path | None = None,
    min_reference_fraction: float = 0.9,
    extra_pairs: Sequence = (),
) -> dict[str, pd.DataFrame]:
    """Everything the compare step writes, by file name (see the module docstring); computed
    in full before anything is written. ``runs`` / ``pretrain_runs``: the run.json files of the
    variant runs and of the pretrain runs the config resolves; ``references`` defaults to the
    repository's ``config/reference_results.csv``; without ``budget`` no trend is available;
    ``extra_pairs``: the claims registry's comparisons between other variants (same Holm family)."""
    frame = read_comparison_metrics(Path(metrics))
    variants = sorted(set(frame["variant"].astype(str))) if "variant" in frame else []
    if reference_variant not in variants:
        raise ValueError(f"--reference {reference_variant!r} is not a variant of {metrics} "
                         f"({', '.join(variants)}); give one of these")
    comparisons = paired_comparisons(frame, reference_variant=reference_variant, n_resamples=n_resamples, seed=seed,
                                     extra_pairs=list(extra_pairs))
    variant_runs = read_runs(runs)
    tables = judge_regime(comparisons, frame, read_refinement([Path(refinement)]) if refinement else None,
                          variant_runs, read_runs(pretrain_runs), read_references(references),
                          read_budget_metrics(budget), reference_variant, min_reference_fraction,
                          n_resamples, seed)  # fmt: skip
    tables["ablation_trends.csv"] = ablation_trends(frame, variant_runs, tables["backbone_adequacy.csv"],
                                                    tables["head_adequacy.csv"], n_resamples=n_resamples, seed=seed)  # fmt: skip
    return tables
