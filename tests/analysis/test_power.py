"""Tests for morse.analysis.power against published power-table values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from morse.analysis.power import (
    holm_alphas,
    min_detectable_difference,
    min_detectable_effect,
    paired_t_power,
)

# G*Power 3 (Faul et al., 2007), t tests, "Means: difference from constant (one sample case)",
# a priori, two tails, alpha 0.05, power 0.80: total sample size and actual power. d = 0.2,
# 0.5, 0.8 are Cohen's (1988) small, medium and large effects.
GPOWER = [(0.2, 199, 0.8016910), (0.5, 34, 0.8077775), (0.8, 15, 0.8213105)]


@pytest.mark.parametrize(("d", "n", "power"), GPOWER)
def test_power_matches_gpower(d: float, n: int, power: float) -> None:
    assert paired_t_power(d, n) == pytest.approx(power, abs=1e-6)
    assert paired_t_power(d, n - 1) < 0.8  # n is the smallest sample reaching 80 %


@pytest.mark.parametrize(("d", "n", "_power"), GPOWER)
def test_min_detectable_effect_brackets_the_table(d: float, n: int, _power: float) -> None:
    # n cases detect a slightly smaller effect than d (their power at d exceeds 0.8), n - 1 a larger
    assert min_detectable_effect(n) < d < min_detectable_effect(n - 1)
    assert paired_t_power(min_detectable_effect(n), n) == pytest.approx(0.8, abs=1e-8)


def test_large_sample_approaches_the_normal_formula() -> None:
    # for large n, d = (z_{1 - alpha/2} + z_{power}) / sqrt(n) = (1.959964 + 0.841621) / sqrt(n)
    n = 10_000
    assert min_detectable_effect(n) == pytest.approx(2.801585 / math.sqrt(n), rel=1e-3)


def test_min_detectable_difference_scales_with_sd_and_alpha() -> None:
    d = min_detectable_effect(10)
    assert min_detectable_difference(0.05, 10) == pytest.approx(0.05 * d)
    assert min_detectable_difference(-0.05, 10) == pytest.approx(0.05 * d)
    assert math.isnan(min_detectable_difference(0.0, 10))  # no noise estimate
    # a stricter (Holm) level needs a larger difference
    assert min_detectable_difference(0.05, 10, alpha=0.05 / 3) > min_detectable_difference(0.05, 10)
    assert math.isnan(min_detectable_difference(0.05, 1))
    assert math.isnan(min_detectable_difference(float("nan"), 10))
    with pytest.raises(ValueError, match="alpha"):
        min_detectable_effect(10, alpha=0.9)


def test_holm_alphas_step_down() -> None:
    # ranks by p: 0.01 (1st of 3) -> 0.05/3, 0.03 (2nd) -> 0.05/2, 0.2 (3rd) -> 0.05; NaN: 0.05/3
    got = holm_alphas(np.array([0.03, 0.01, np.nan, 0.2]))
    assert got == pytest.approx([0.025, 0.05 / 3, 0.05 / 3, 0.05])
    # ties keep input order, like stats.holm
    assert holm_alphas(np.array([0.04, 0.04])) == pytest.approx([0.025, 0.05])
    assert holm_alphas(np.array([np.nan])) == pytest.approx([0.05])


def test_comparisons_carry_the_detectable_difference() -> None:
    from fake_results import metric_frame

    from morse.analysis.stats import paired_comparisons

    # one class, one seed, 12 cases: morse coarse = baseline + 0.01 * (1 + (case mod 3)),
    # morse refined = baseline + 0.02 * case (a wider spread of differences)
    def scores(variant: str, output: str, seed: int, case: int, index: int) -> dict:
        dice = 0.5 + 0.01 * case
        if variant == "morse":
            dice += 0.01 * (1 + case % 3) if output == "coarse" else 0.02 * case
        return {"dice": dice}

    frame = metric_frame({"baseline": ["coarse"], "morse": ["coarse", "refined"]}, scores,
                         classes={"organ": 1}, cases=[f"c{i:02d}" for i in range(12)], complete=False)
    out = paired_comparisons(frame, n_resamples=200).set_index("comparison")
    assert list(out["metric"].unique()) == ["dice"]  # only the metrics the frame has
    cases = np.arange(12)
    sd = {
        "morse (coarse) vs baseline (coarse)": np.std(0.01 * (1 + cases % 3), ddof=1),
        "morse (refined) vs baseline (coarse)": np.std(0.02 * cases, ddof=1),
        "morse (refined) vs morse (coarse)": np.std(0.02 * cases - 0.01 * (1 + cases % 3), ddof=1),
    }
    levels = holm_alphas(out["p_value"].to_numpy())
    for (name, row), level in zip(out.iterrows(), levels, strict=True):
        assert row["mdd_alpha"] == pytest.approx(level)
        assert row["min_detectable_difference"] == pytest.approx(
            min_detectable_difference(sd[name], 12, level)
        )
    # three comparisons: the levels are 0.05 / 3, 0.05 / 2 and 0.05 in some order
    assert sorted(out["mdd_alpha"]) == pytest.approx([0.05 / 3, 0.05 / 2, 0.05])
