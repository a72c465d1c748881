"""The trend over an ablated knob on hand-made series: rising, flat, U-shaped, and the claim's verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fake_results import make_runs, metric_frame, numbered

from morse.analysis.ablation_trends import TREND_COLUMNS, ablation_trends, knob_trend, sign_flip_p
from morse.analysis.claims import Claim
from morse.analysis.plots.ablation import ablation_figure
from morse.analysis.refinement import FIXES_MORE, UNDER_TRAINED
from morse.analysis.report.adequacy import ablation_warnings
from morse.analysis.summaries.ablation import ablation_summary
from morse.analysis.verdicts import claim_verdicts, scored_arms

CASES = [f"c{i}" for i in range(10)]
#: A per-case offset (cases differ in difficulty) and a +-0.01 wobble of the middle point, which
#: moves neither a case's slope (the middle rank is 0 after centring) nor the mean curvature.
OFFSET = np.linspace(-0.05, 0.05, len(CASES))
WOBBLE = np.array([0.01, -0.01] * 5)
VALUES = {"morse-num_experts-1": 1, "morse-num_experts-3": 3, "morse": 5}
EXACT_P = 2 / 2**10  # every one of 10 per-case slopes positive: the two all-same-sign flips


def _runs() -> list:
    """morse leaves num_experts unset (one expert per feature map: the UNet's 5 levels)."""
    records = [{"dataset": "phantom2d", "backbone": "unet", "variant": "baseline", "head": {}},
               {"dataset": "phantom2d", "backbone": "unet", "variant": "morse", "head": {"num_experts": None}}]  # fmt: skip
    for variant, value in VALUES.items():
        if variant != "morse":
            records.append({"dataset": "phantom2d", "backbone": "unet", "variant": variant,
                            "ablation": {"base": "morse", "knob": "num_experts", "value": value},
                            "head": {"num_experts": value}})  # fmt: skip
    return make_runs(records)


def _series(dice: tuple[float, float, float], nsd_slopes: np.ndarray | None = None) -> pd.DataFrame:
    """Dice at experts 1 / 3 / 5 = ``dice`` + the case's offset (+ the wobble in the middle); NSD
    per case a line of slope ``nsd_slopes[case]`` per step; HD95 = 10 - 10 x Dice (a distance)."""
    rank = {v: i for i, v in enumerate(VALUES)}

    def scores(variant: str, output: str, seed: int, case: int, index: int) -> dict:
        r = rank.get(variant, 1)
        d = dice[r] + OFFSET[case] + (WOBBLE[case] if r == 1 else 0.0)
        nsd = 0.8 + (0.0 if nsd_slopes is None else nsd_slopes[case] * r)
        return {"dice": d, "nsd": nsd, "boundary_iou": 0.5, "hd95_mm": 10 - 10 * d}

    arms = {"baseline": ["coarse"], **{v: ["coarse", "refined"] for v in VALUES}}
    return metric_frame(arms, scores, classes=numbered(["a"]), cases=CASES)


def _row(trends: pd.DataFrame, metric: str, output: str = "refined") -> pd.Series:
    hit = trends[(trends["metric"] == metric) & (trends["output"] == output)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_sign_flip_p_is_exact_for_few_cases() -> None:
    assert math.isclose(sign_flip_p(np.ones(10)), EXACT_P)
    assert sign_flip_p(np.array([1.0, -1.0, 1.0, -1.0])) == 1.0  # mean 0: every flip is as extreme
    # 3 cases: 1, 2, 3: |mean| >= 2 only for +++ and ---
    assert math.isclose(sign_flip_p(np.array([1.0, 2.0, 3.0])), 2 / 8)
    assert math.isnan(sign_flip_p(np.array([1.0])))


def test_slope_and_curvature_of_one_matrix() -> None:
    # two cases, three values: a line of slope 0.1 per step, and a peak of 0.3 in the middle
    stats = knob_trend(np.array([[0.1, 0.2, 0.3], [0.0, 0.3, 0.0]]), n_resamples=200)
    assert math.isclose(stats["slope"], (0.1 + 0.0) / 2)
    assert math.isclose(stats["curvature"], (0.0 - 0.3) / 2)  # orthogonal quadratic coefficient
    np.testing.assert_allclose(stats["means"], [0.05, 0.25, 0.15])


def test_a_rising_series_is_rising_with_its_holm_family() -> None:
    flat = np.array([0.02, -0.02] * 5)  # NSD: half the cases up, half down, mean slope 0
    trends = ablation_trends(_series((0.70, 0.75, 0.80), flat), _runs(), n_resamples=2000)
    assert list(trends.columns) == TREND_COLUMNS
    # one knob x 4 headline metrics x 2 outputs (coarse and refined); baseline is no knob point
    assert len(trends) == 8 and set(trends["knob"]) == {"num_experts"}
    dice = _row(trends, "dice")
    assert dice["values"] == "1;3;5" and dice["variants"] == "morse-num_experts-1;morse-num_experts-3;morse"
    assert math.isclose(dice["slope"], 0.05) and dice["n_cases"] == 10 and dice["n_seeds"] == 1
    assert math.isclose(dice["ci_low"], 0.05) and math.isclose(dice["ci_high"], 0.05)  # every case's slope
    assert math.isclose(dice["p_value"], EXACT_P)
    # Holm within refined: dice and hd95 at 2/1024, nsd at 1, boundary_iou constant (p 1)
    assert math.isclose(dice["p_holm"], 4 * EXACT_P)
    assert (dice["shape"], dice["decision"], dice["better"]) == ("monotone", "rising", "higher values")
    hd95 = _row(trends, "hd95_mm")  # falls as Dice rises: better with more experts, too
    assert math.isclose(hd95["slope"], -0.5) and (hd95["decision"], hd95["better"]) == ("falling", "higher values")
    nsd = _row(trends, "nsd")
    assert math.isclose(nsd["slope"], 0.0, abs_tol=1e-12) and nsd["p_value"] == 1.0
    assert (nsd["decision"], nsd["better"]) == ("no trend", "")


def test_a_flat_series_is_no_trend() -> None:
    row = _row(ablation_trends(_series((0.75, 0.75, 0.75)), _runs(), n_resamples=2000), "dice")
    assert math.isclose(row["slope"], 0.0, abs_tol=1e-12) and row["p_value"] == 1.0
    assert row["ci_low"] <= 0 <= row["ci_high"]
    assert (row["shape"], row["decision"]) == ("monotone", "no trend")


def test_a_peak_in_the_middle_is_non_monotone_not_no_effect() -> None:
    trends = ablation_trends(_series((0.70, 0.80, 0.70)), _runs(), n_resamples=2000)
    dice = _row(trends, "dice")
    # ends equal in every case: slope 0, no linear trend; curvature -0.1 in every case
    assert math.isclose(dice["slope"], 0.0, abs_tol=1e-12) and math.isclose(dice["curvature"], -0.1)
    assert math.isclose(dice["p_curvature"], EXACT_P)
    assert (dice["shape"], dice["decision"], dice["better"]) == ("inverted-U", "non-monotone", "middle")
    hd95 = _row(trends, "hd95_mm")  # the distance dips where Dice peaks: best in the middle too
    assert (hd95["shape"], hd95["decision"], hd95["better"]) == ("U-shaped", "non-monotone", "middle")


def test_the_worst_point_sets_the_adequacy() -> None:
    backbones = pd.DataFrame([{"dataset": "phantom2d", "backbone": "unet", "state": "trained"}])
    heads = pd.DataFrame([{"dataset": "phantom2d", "backbone": "unet", "variant": v, "step": "all",
                           "verdict": FIXES_MORE} for v in VALUES])  # fmt: skip
    trends = ablation_trends(_series((0.70, 0.75, 0.80)), _runs(), backbones, heads, n_resamples=200)
    assert set(trends["adequacy"]) == {"adequate"}
    heads.loc[heads["variant"] == "morse-num_experts-3", "verdict"] = UNDER_TRAINED
    trends = ablation_trends(_series((0.70, 0.75, 0.80)), _runs(), backbones, heads, n_resamples=200)
    refined, coarse = _row(trends, "dice"), _row(trends, "dice", "coarse")
    assert (refined["adequacy"], refined["under_trained"]) == ("head under-trained", "3")
    assert coarse["adequacy"] == "adequate"  # the coarse output does not depend on the head


EXPERTS = Claim("more_experts", "More experts help", "More experts help.", "morse", "refined",
                {"dice": "higher"}, trend="num_experts")  # fmt: skip
POINTS = Claim("more_points", "More points help", "More points help.", "morse", "refined",
               {"dice": "higher"}, trend="num_points")  # fmt: skip


@pytest.mark.parametrize(("dice", "state", "words"), [
    ((0.70, 0.75, 0.80), "supported", "slope per step of num_experts: significant in the claimed direction"),
    ((0.80, 0.75, 0.70), "contradicted", "significant against the claimed direction"),
    ((0.75, 0.75, 0.75), "no detectable effect", "not significant"),
    ((0.70, 0.80, 0.70), "not evidence", "not monotone in the knob: inverted-U over the values 1;3;5"),
])  # fmt: skip
def test_the_claims_verdict_is_the_trends(dice: tuple, state: str, words: str) -> None:
    metrics = _series(dice)
    trends = ablation_trends(metrics, _runs(), n_resamples=2000)
    verdicts = claim_verdicts([EXPERTS, POINTS], pd.DataFrame(columns=["dataset", "backbone", "metric"]),
                              scored_arms(metrics), trends).set_index("claim")  # fmt: skip
    row = verdicts.loc["more_experts"]
    assert row["state"] == state and words in row["reason"], row["reason"]
    assert math.isclose(row["effect"], _row(trends, "dice")["slope"], abs_tol=1e-12)
    assert verdicts.loc["more_points", "state"] == "not run"  # the number of points was not swept
    assert "num_points was not ablated on phantom2d / unet" in verdicts.loc["more_points", "reason"]


def test_a_significant_p_with_a_ci_holding_zero_is_no_trend() -> None:
    trends = pd.DataFrame([{"dataset": "phantom2d", "backbone": "unet", "knob": "num_experts", "metric": "dice",
                            "output": "refined", "slope": 0.01, "ci_low": -0.001, "ci_high": 0.02,
                            "p_holm": 0.04, "shape": "monotone"}])  # fmt: skip
    metrics = _series((0.70, 0.75, 0.80))
    row = claim_verdicts([EXPERTS], pd.DataFrame(columns=["dataset", "backbone", "metric"]), scored_arms(metrics),
                         trends).iloc[0]  # fmt: skip
    assert row["state"] == "no detectable effect" and "includes 0" in row["reason"]


def test_the_ablation_figure_writes_each_lines_trend() -> None:
    metrics, runs = _series((0.70, 0.75, 0.80)), _runs()
    trends = ablation_trends(metrics, runs, n_resamples=500)
    fig = ablation_figure(ablation_summary(metrics, runs), trends)
    texts = {t.get_gid(): t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid()}
    # the first row of panels is Dice (4 decimals: the metric's 3 + 1)
    first = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert first["trend:num_experts:refined"] == (
        "refined: +0.0500/step [+0.0500, +0.0500], p_holm 0.0078: rising")
    assert "trend:num_experts:coarse" in texts
    bare = ablation_figure(ablation_summary(metrics, runs))
    assert not [t for ax in bare.axes for t in ax.texts if str(t.get_gid()).startswith("trend:")]


def test_the_report_says_at_the_top_which_ablation_points_are_under_trained() -> None:
    trends = pd.DataFrame([
        {"dataset": "phantom2d", "backbone": "unet", "knob": "num_experts", "output": "refined",
         "adequacy": "head under-trained", "under_trained": "1;3"},
        {"dataset": "phantom2d", "backbone": "unet", "knob": "num_experts", "output": "coarse",
         "adequacy": "adequate", "under_trained": ""},
        {"dataset": "phantom2d", "backbone": "unet", "knob": "num_points", "output": "refined",
         "adequacy": "adequate", "under_trained": ""},
    ])  # fmt: skip
    assert ablation_warnings(trends) == [
        "The ablation over num_experts on phantom2d / unet does not pass the adequacy checks: the head at "
        "num_experts = 1, 3 breaks more labels than it fixes with its point loss not on its plateau; its trend "
        "over the refined output is not evidence about the method (see \"Is the head trained?\" and the "
        "Ablations section)."]  # fmt: skip
    assert ablation_warnings(trends.assign(adequacy="adequate")) == [] and ablation_warnings(None) == []


def test_a_trend_of_another_base_variant_is_not_the_claims() -> None:
    metrics = _series((0.70, 0.75, 0.80))
    trends = ablation_trends(metrics, _runs(), n_resamples=200).assign(base="pointrend")
    row = claim_verdicts([EXPERTS], pd.DataFrame(columns=["dataset", "backbone", "metric"]), scored_arms(metrics),
                         trends).iloc[0]  # fmt: skip
    assert row["state"] == "not run" and "num_experts was not ablated" in row["reason"]
