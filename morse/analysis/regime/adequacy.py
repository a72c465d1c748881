"""The ``adequacy`` and ``budget_trend`` columns of every ``comparisons.csv`` row.

``adequacy``, first match wins:

1. ``backbone under-trained``: the dataset x backbone's backbone is under-trained
   (:mod:`~morse.analysis.regime.backbone`); every row of it, coarse and refined;
2. ``head under-trained``: the row scores a refined output (against the baseline or against its
   own coarse output) and its head's refinement breaks more than it fixes with its point loss not
   on its plateau (:mod:`~morse.analysis.regime.heads`);
3. ``undetermined``: something the row depends on could not be judged (the backbone, or, for a
   refined output, the head: no refinement counts);
4. ``adequate``: everything it depends on is judged trained.

The coarse output of a head variant depends on the backbone only: its head's refinement is not
part of it.

``budget_trend``: the trend of the same variant / output against the baseline's coarse output
and metric across the snapshots (:mod:`~morse.analysis.regime.budget`); ``not available`` where
there is none, and for rows against anything else (refined against its own coarse output), which
are not traced.
"""

from __future__ import annotations

import pandas as pd

from morse.analysis.refinement import FIXES_MORE
from morse.analysis.refinement import UNDER_TRAINED as HEAD_UNDER_TRAINED
from morse.analysis.regime.backbone import TRAINED, UNDER_TRAINED
from morse.analysis.regime.budget import NOT_AVAILABLE
from morse.analysis.regime.heads import HURTS_CONVERGED, head_verdicts
from morse.config import REFERENCE_VARIANT

__all__ = ["ADEQUACY", "ADEQUATE", "BACKBONE", "HEAD", "UNDETERMINED", "adequacy_of", "with_regime"]

ADEQUATE, HEAD, BACKBONE, UNDETERMINED = "adequate", "head under-trained", "backbone under-trained", "undetermined"
ADEQUACY = (ADEQUATE, HEAD, BACKBONE, UNDETERMINED)
_HEAD_TRAINED = (FIXES_MORE, HURTS_CONVERGED)


def adequacy_of(backbone_state: str | None, refined: bool, head_verdict: str | None) -> str:
    """The adequacy of one comparison row (precedence in the module docstring)."""
    if backbone_state == UNDER_TRAINED:
        return BACKBONE
    if refined and head_verdict == HEAD_UNDER_TRAINED:
        return HEAD
    if backbone_state != TRAINED or (refined and head_verdict not in _HEAD_TRAINED):
        return UNDETERMINED
    return ADEQUATE


def with_regime(comparisons: pd.DataFrame, backbones: pd.DataFrame, heads: pd.DataFrame,
                trends: pd.DataFrame, reference_variant: str = REFERENCE_VARIANT) -> pd.DataFrame:  # fmt: skip
    """``comparisons`` with ``adequacy`` and ``budget_trend`` set on every row, from
    ``backbone_adequacy.csv``, ``head_adequacy.csv`` and ``budget_trends.csv`` frames (the trends
    are those against ``reference_variant``'s coarse output)."""
    state = {(str(d), str(b)): str(s) for d, b, s in
             backbones[["dataset", "backbone", "state"]].itertuples(index=False)} if len(backbones) else {}  # fmt: skip
    verdict = head_verdicts(heads)
    trend = {}
    if len(trends):
        trend = {tuple(map(str, key)): str(t) for *key, t in
                 trends[["dataset", "backbone", "variant", "output", "metric", "trend"]].itertuples(index=False)}  # fmt: skip
    out = comparisons.copy()
    adequacy, budget = [], []
    for r in out.itertuples(index=False):
        dataset, backbone, variant, output = str(r.dataset), str(r.backbone), str(r.variant), str(r.output)
        adequacy.append(adequacy_of(state.get((dataset, backbone)), output == "refined",
                                    verdict.get((dataset, backbone, variant))))  # fmt: skip
        traced = (str(r.reference_variant), str(r.reference_output)) == (reference_variant, "coarse")
        budget.append(trend.get((dataset, backbone, variant, output, str(r.metric)), NOT_AVAILABLE)
                      if traced else NOT_AVAILABLE)  # fmt: skip
    return out.assign(adequacy=adequacy, budget_trend=budget)
