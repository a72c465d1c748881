"""Tests for morse.analysis.stats on constructed paired data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fake_results import metric_frame

from morse.analysis.stats import (
    STATS_COLUMNS,
    holm,
    paired_comparisons,
    rank_biserial,
)

CASES = [f"case{i:02d}" for i in range(10)]
CLASSES = [("liver", 1), ("spleen", 2)]


def _frame(arms: dict, seeds=(1, 2), cases=CASES) -> pd.DataFrame:
    """arms: (variant, output) -> function(seed, case_idx, class_idx) -> (dice, hd95)."""
    outputs: dict[str, list[str]] = {}
    for variant, output in arms:
        outputs.setdefault(variant, []).append(output)

    def scores(variant: str, output: str, seed: int, case: int, index: int) -> dict:
        dice, hd = arms[(variant, output)](seed, case, index)
        return {"dice": dice, "hd95_mm": hd, "hd95_vox": 2 * hd}

    # a region row (WT) per case with absurd values, which the case average must ignore
    def absurd(*_: object) -> dict:
        return {"dice": -100.0, "hd95_mm": 1e6, "hd95_vox": 1e6}

    common = {"seeds": seeds, "cases": cases, "dataset": "synapse"}
    return pd.concat([metric_frame(outputs, scores, classes=dict(CLASSES), **common),
                      metric_frame(outputs, absurd, classes={"WT": -1}, **common)], ignore_index=True)


def base(seed: int, case: int, cls: int) -> tuple[float, float]:
    return 0.5 + 0.03 * case + 0.01 * cls + 0.005 * seed, 20.0 + case + seed


def better(seed: int, case: int, cls: int) -> tuple[float, float]:
    dice, hd = base(seed, case, cls)
    return dice + 0.1, hd - 2.0


def _row(out: pd.DataFrame, metric: str, comparison: str) -> pd.Series:
    sel = out[(out["metric"] == metric) & (out["comparison"] == comparison)]
    assert len(sel) == 1, comparison
    return sel.iloc[0]


def test_constant_improvement() -> None:
    frame = _frame(
        {("baseline", "coarse"): base, ("morse", "coarse"): better, ("morse", "refined"): better}
    )
    out = paired_comparisons(frame, n_resamples=2000)
    assert list(out.columns) == STATS_COLUMNS
    assert set(out["comparison"]) == {
        "morse (coarse) vs baseline (coarse)",
        "morse (refined) vs baseline (coarse)",
        "morse (refined) vs morse (coarse)",
    }
    row = _row(out, "dice", "morse (refined) vs baseline (coarse)")
    assert row["n_cases"] == 10 and row["n_seeds"] == 2
    assert row["mean_difference"] == pytest.approx(0.1)
    assert row["mean_variant"] - row["mean_reference"] == pytest.approx(0.1)
    assert row["ci_low"] <= 0.1 + 1e-9 and row["ci_high"] >= 0.1 - 1e-9
    assert row["ci_low"] > 0
    assert row["p_value"] == pytest.approx(2 / 2**10)  # exact two-sided, all 10 positive
    assert row["p_holm"] < 0.05
    assert row["effect_size"] == pytest.approx(1.0)
    assert row["seed_sd"] == pytest.approx(0.0, abs=1e-12)
    assert row["better"] == "variant"
    # HD95: the variant is 2 mm lower everywhere -> lower is better -> variant wins
    hd = _row(out, "hd95_mm", "morse (refined) vs baseline (coarse)")
    assert hd["mean_difference"] == pytest.approx(-2.0)
    assert hd["effect_size"] == pytest.approx(-1.0)
    assert hd["better"] == "variant"
    # within-variant refined vs coarse: identical -> no difference
    within = _row(out, "dice", "morse (refined) vs morse (coarse)")
    assert within["mean_difference"] == pytest.approx(0.0)
    assert within["better"] == "no difference"


def test_worse_hd_means_reference_better() -> None:
    def worse(seed, case, cls):
        dice, hd = base(seed, case, cls)
        return dice - 0.05, hd + 3.0 + 0.1 * case

    out = paired_comparisons(
        _frame({("baseline", "coarse"): base, ("morse", "refined"): worse}), n_resamples=1000
    )
    hd = _row(out, "hd95_vox", "morse (refined) vs baseline (coarse)")
    assert hd["mean_difference"] > 0
    assert hd["better"] == "reference"
    assert _row(out, "dice", "morse (refined) vs baseline (coarse)")["better"] == "reference"


def test_identical_arms() -> None:
    out = paired_comparisons(
        _frame({("baseline", "coarse"): base, ("pointrend", "coarse"): base}), n_resamples=1000
    )
    for _, row in out.iterrows():
        assert row["mean_difference"] == 0.0
        assert math.isnan(row["p_value"]) and math.isnan(row["p_holm"])
        assert row["better"] == "no difference"
        assert "zero" in row["note"]
        assert row["ci_low"] == 0.0 and row["ci_high"] == 0.0


def test_holm_hand_computed() -> None:
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.001, 0.2, 0.04]), [0.5, 0.004, 0.4, 0.12])
    got = holm([0.01, np.nan, 0.04])
    assert got[0] == pytest.approx(0.02) and np.isnan(got[1]) and got[2] == pytest.approx(0.04)
    assert holm([0.9, 0.8])[0] == 1.0


def test_rank_biserial() -> None:
    # |d| ranks 1..4; positives ranks 1, 2, 4 -> (7 - 3) / 10
    assert rank_biserial(np.array([1.0, -3.0, 2.0, 4.0, 0.0])) == pytest.approx(0.4)


def test_missing_cases_and_seeds_are_dropped() -> None:
    frame = _frame({("baseline", "coarse"): base, ("morse", "refined"): better}, seeds=(1, 2, 3))
    drop = (frame["variant"] == "morse") & (
        frame["case"].isin(["case08", "case09"]) | (frame["seed"] == 3)
    )
    frame = frame[~drop]
    row = _row(
        paired_comparisons(frame, n_resamples=500), "dice", "morse (refined) vs baseline (coarse)"
    )
    assert row["n_cases"] == 8 and row["n_seeds"] == 2
    # reference mean over the 8 shared cases and seeds 1, 2 only
    expected = np.mean(
        [np.mean([base(s, c, k)[0] for k in (1, 2)]) for s in (1, 2) for c in range(8)]
    )
    assert row["mean_reference"] == pytest.approx(expected)
    # a case missing for only one seed is dropped too
    frame2 = frame[
        ~((frame["variant"] == "morse") & (frame["case"] == "case00") & (frame["seed"] == 2))
    ]
    row2 = _row(
        paired_comparisons(frame2, n_resamples=500), "dice", "morse (refined) vs baseline (coarse)"
    )
    assert row2["n_cases"] == 7 and "missing" in row2["note"]


def test_seed_sd_and_per_seed_pairing() -> None:
    def seed_dependent(seed, case, cls):
        dice, hd = base(seed, case, cls)
        return dice + (0.1 if seed == 1 else 0.3), hd

    out = paired_comparisons(
        _frame({("baseline", "coarse"): base, ("morse", "coarse"): seed_dependent}),
        n_resamples=500,
    )
    row = _row(out, "dice", "morse (coarse) vs baseline (coarse)")
    assert row["mean_difference"] == pytest.approx(0.2)
    assert row["seed_sd"] == pytest.approx(np.std([0.1, 0.3], ddof=1))


def test_holm_applied_within_table() -> None:
    # two comparisons in the same dataset x backbone x metric table -> p_holm = 2 * p
    frame = _frame(
        {("baseline", "coarse"): base, ("morse", "coarse"): better, ("pr", "coarse"): better}
    )
    out = paired_comparisons(frame, metrics_to_compare=("dice",), n_resamples=500)
    assert len(out) == 2
    np.testing.assert_allclose(out["p_holm"], 2 * out["p_value"])
