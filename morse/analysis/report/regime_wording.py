"""How the report words the regime of a comparison row: its ``adequacy`` (is it evidence about
the method?) and its ``budget_trend`` (how the difference moves with more training), both read
from ``comparisons.csv`` (judged once by the compare step, :mod:`morse.analysis.regime`)."""

from __future__ import annotations

from typing import Any

from morse.analysis.regime.adequacy import BACKBONE, HEAD, UNDETERMINED
from morse.analysis.regime.budget import CLOSING, CROSSING, NOT_AVAILABLE, STABLE, WIDENING
from morse.analysis.report.adequacy import UNDER_TRAINED_SENTENCE
from morse.analysis.report.format import is_missing

__all__ = ["BACKBONE", "BACKBONE_SENTENCE", "HEAD", "TREND_PHRASES", "adequacy", "not_evidence", "trend",
           "trend_phrase"]  # fmt: skip

#: What the report says instead of a verdict when the backbone is under-trained.
BACKBONE_SENTENCE = "not evidence about the method: the backbone is under-trained"
#: The trend across the training budget, as a clause after "at this budget; ".
TREND_PHRASES = {
    CLOSING: "the gap closes with training",
    WIDENING: "the gap widens with training",
    STABLE: "the gap is stable across the training budget",
    CROSSING: "the sign of the difference changes with training",
}


def adequacy(row: Any) -> str:
    """A comparison row's ``adequacy``; ``undetermined`` in tables written before the column."""
    value = getattr(row, "adequacy", None)
    return UNDETERMINED if is_missing(value) else str(value)


def trend(row: Any) -> str:
    """A comparison row's ``budget_trend``; ``not available`` in tables written before the column."""
    value = getattr(row, "budget_trend", None)
    return NOT_AVAILABLE if is_missing(value) else str(value)


def trend_phrase(row: Any) -> str:
    """The row's trend as a clause ("the gap closes with training"); empty when not available."""
    return TREND_PHRASES.get(trend(row), "")


def not_evidence(state: str, output: str = "refined") -> str:
    """The sentence replacing a verdict for an under-trained backbone (any output) or head (its
    refined output); empty when the row is evidence."""
    if state == BACKBONE:
        return BACKBONE_SENTENCE
    if state == HEAD and output == "refined":
        return UNDER_TRAINED_SENTENCE
    return ""
