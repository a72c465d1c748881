"""The analysis vocabulary: one definition of every metric's direction, label and digits."""

from __future__ import annotations

import pandas as pd
import pytest
from fake_results import metric_frame, numbered

from morse.analysis.aggregate import summarise
from morse.analysis.stats import paired_comparisons
from morse.analysis.vocabulary import (
    COMPARED,
    HEADLINE,
    METRICS,
    SUMMARISED,
    digits,
    higher_is_better,
    metric_label,
    variant_colour,
    variant_order,
)  # fmt: skip


def test_directions_labels_and_digits() -> None:
    assert higher_is_better("dice") and not higher_is_better("hd95_mm")
    assert not higher_is_better("hd95_vox_authors")
    assert (metric_label("hd95_mm"), digits("dice"), digits("hd95_mm")) == ("HD95 (mm)", 3, 2)
    with pytest.raises(ValueError, match="unknown metric 'nsd_2mm'.*vocabulary.py"):
        higher_is_better("nsd_2mm")
    assert set(HEADLINE) <= set(COMPARED) and set(SUMMARISED) <= set(METRICS)


def test_the_vocabulary_decides_what_is_summarised_and_compared() -> None:
    frame = metric_frame({"baseline": ["coarse"], "morse": ["coarse"]},
                         lambda v, o, s, c, i: {"dice": 0.5 + 0.1 * (v == "morse") + 0.01 * c,
                                                "hd95_mm": 3.0, "hd95_vox": 3.0, "extra": 1.0},
                         classes=numbered(["a", "b"]), cases=[f"c{i}" for i in range(6)])  # fmt: skip
    summary = summarise(frame)
    assert list(dict.fromkeys(summary["metric"])) == [m for m in METRICS if m in frame.columns]
    assert "extra" not in set(summary["metric"])  # a column the vocabulary does not know
    comparisons = paired_comparisons(frame, n_resamples=100)
    assert list(dict.fromkeys(comparisons["metric"])) == [m for m in COMPARED if m in frame.columns]
    dice = comparisons[comparisons["metric"] == "dice"].iloc[0]
    assert dice["mean_difference"] == pytest.approx(0.1) and dice["better"] == "variant"


def test_variant_order_and_colours_are_fixed() -> None:
    assert variant_order(["morse-e3", "morse", "baseline", "pointrend"]) == [
        "baseline", "pointrend", "morse", "morse-e3"]
    assert variant_colour("morse") != variant_colour("baseline")
    assert variant_colour("morse-e3") == variant_colour("morse-e3")
    assert isinstance(pd.Series([variant_colour("x")]).iloc[0], str)
