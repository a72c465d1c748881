"""The verdict per claim: decide() on hand-made rows for every state, and verdicts.csv."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fake_results import metric_frame, numbered

from morse.analysis.claims import Claim
from morse.analysis.power import min_detectable_difference
from morse.analysis.stats import paired_comparisons
from morse.analysis.verdicts import (
    VERDICT_COLUMNS,
    claim_verdicts,
    decide,
    derived_adequacy,
    scored_arms,
)


def test_significant_in_the_claimed_direction_is_supported_and_against_it_contradicted() -> None:
    assert decide(0.02, 0.01, "higher", metric="dice", n_cases=10).state == "supported"
    assert decide(-0.02, 0.01, "higher", metric="dice", n_cases=10).state == "contradicted"
    # HD95 claimed lower: a negative difference supports it, a positive one contradicts it
    assert decide(-1.5, 0.001, "lower", metric="hd95_mm", n_cases=10).state == "supported"
    verdict = decide(1.5, 0.001, "lower", metric="hd95_mm", n_cases=10)
    assert verdict.state == "contradicted" and "against the claimed direction" in verdict.reason
    assert "+1.50 mm HD95" in verdict.reason
    # the rank-biserial sign (the Wilcoxon test's view) decides when it disagrees with the mean
    assert decide(0.001, 0.01, "higher", metric="dice", n_cases=10, rank_effect=-0.6).state == "contradicted"
    # exactly at alpha is not significant
    assert decide(0.02, 0.05, "higher", metric="dice", n_cases=10).state == "no detectable effect"


def test_no_detectable_effect_says_what_would_have_been_seen() -> None:
    mdd = min_detectable_difference(0.05, 10, 0.05)  # SD 0.05, 10 cases: d = 0.997 (G*Power), 0.0498 Dice
    assert 0.0495 < mdd < 0.0500
    verdict = decide(0.004, 0.4, "higher", metric="dice", n_cases=10, min_detectable=mdd)
    assert verdict.state == "no detectable effect"
    assert f"an effect of at least {mdd:.3f} Dice would have been seen" in verdict.reason
    assert "p_holm 0.4" in verdict.reason
    unknown = decide(0.004, 0.4, "higher", metric="dice", n_cases=10, min_detectable=float("nan"))
    assert "could not be estimated" in unknown.reason
    assert decide(0.0, float("nan"), "higher", metric="dice", n_cases=10).state == "no detectable effect"


@pytest.mark.parametrize("adequacy", ["head under-trained", "backbone under-trained"])
def test_an_under_trained_model_is_not_evidence_even_when_significant(adequacy: str) -> None:
    verdict = decide(0.05, 0.001, "higher", metric="dice", n_cases=10, adequacy=adequacy)
    assert verdict.state == "not evidence" and verdict.reason.startswith(adequacy)


def test_adequate_and_undetermined_leave_the_test_to_decide() -> None:
    for adequacy in ("adequate", "undetermined"):
        assert decide(0.05, 0.001, "higher", metric="dice", n_cases=10, adequacy=adequacy).state == "supported"


def test_too_few_cases_for_a_test_is_not_evidence() -> None:
    # 5 paired cases: the smallest two-sided exact Wilcoxon p is 2 / 32 = 0.0625 > 0.05
    verdict = decide(0.05, 0.0625, "higher", metric="dice", n_cases=5)
    assert verdict.state == "not evidence" and "too few cases for a test: 5 paired case(s)" in verdict.reason
    assert decide(0.05, 0.03, "higher", metric="dice", n_cases=6).state == "supported"
    assert decide(0.05, float("nan"), "higher", metric="dice", n_cases=8).state == "not evidence"


def test_each_verdict_states_its_basis_in_a_few_words() -> None:
    """``basis``: the short form tables print; one per branch of decide, and never the sentence."""
    cases = {
        "too few cases for a test": decide(0.05, 0.01, "higher", metric="dice", n_cases=5),
        "head under-trained": decide(0.05, 0.01, "higher", metric="dice", n_cases=9, adequacy="head under-trained"),
        "the difference or its p-value is undefined": decide(0.05, float("nan"), "higher", metric="dice", n_cases=8),
        "no difference": decide(0.0, float("nan"), "higher", metric="dice", n_cases=8),
        "significant in the claim": decide(0.05, 0.01, "higher", metric="dice", n_cases=9),
        "significant against the claim": decide(-0.05, 0.01, "higher", metric="dice", n_cases=9),
        "not significant": decide(0.05, 0.2, "higher", metric="dice", n_cases=9),
        "its 95 % CI includes 0": decide(0.05, 0.01, "higher", metric="dice", ci=(-0.01, 0.1)),
        "not monotone in the knob": decide(0.05, 0.01, "higher", metric="dice", non_monotone="an inverted U"),
        "not run": decide(None, None, "higher", metric="dice", not_run="variant 'x' is not configured"),
    }  # fmt: skip
    for basis, verdict in cases.items():
        assert verdict.basis == basis and verdict.basis != verdict.reason


def test_not_run_and_the_budget_trend() -> None:
    verdict = decide(None, None, "higher", metric="dice", not_run="variant 'pointrend' is not configured")
    assert (verdict.state, verdict.reason) == ("not run", "variant 'pointrend' is not configured")
    closing = decide(0.02, 0.01, "higher", metric="dice", n_cases=10, budget_trend="closing")
    assert closing.state == "supported" and closing.reason.endswith("over the training budget the difference is closing")
    with pytest.raises(ValueError, match="budget_trend must be one of"):
        decide(0.02, 0.01, "higher", metric="dice", budget_trend="shrinking")
    with pytest.raises(ValueError, match="adequacy must be one of"):
        decide(0.02, 0.01, "higher", metric="dice", adequacy="fine")


def test_derived_adequacy_reads_the_refined_arms_heads() -> None:
    morse_refined = [("d", "b", "morse", "refined"), ("d", "b", "baseline", "coarse")]
    assert derived_adequacy(morse_refined, {("d", "b", "morse")}, {("d", "b", "morse")}) == "head under-trained"
    assert derived_adequacy(morse_refined, set(), {("d", "b", "morse")}) == "adequate"
    assert derived_adequacy(morse_refined, set(), set()) == "undetermined"
    coarse = [("d", "b", "morse", "coarse"), ("d", "b", "baseline", "coarse")]
    assert derived_adequacy(coarse, {("d", "b", "morse")}, {("d", "b", "morse")}) == "undetermined"


# ---------------------------------------------------------------------------------------------
# verdicts.csv from comparisons
# ---------------------------------------------------------------------------------------------
CLAIMS = [
    Claim("dice_refined", "Dice, refined", "MORSE improves Dice.", "morse", "refined", {"dice": "higher"},
          reference="baseline"),
    Claim("vs_pointrend", "Beats PointRend", "MORSE beats PointRend.", "morse", "refined", {"dice": "higher"},
          reference="pointrend", reference_output="refined"),
    Claim("experts", "More experts", "More experts help.", "morse", "refined", {"dice": "higher"},
          trend="num_experts"),
]  # fmt: skip
CASES = [f"c{i}" for i in range(8)]


def _metrics(pointrend: bool = True) -> pd.DataFrame:
    """morse (refined) = baseline + 0.05 + noise; pointrend (refined) = morse (refined) - 0.1 - noise / 2
    (distinct paired differences: the exact Wilcoxon test)."""
    arms = {"baseline": ["coarse"], "morse": ["coarse", "refined"]}
    if pointrend:
        arms["pointrend"] = ["coarse", "refined"]
    noise = np.linspace(-0.01, 0.01, len(CASES))

    def scores(variant: str, output: str, seed: int, case: int, index: int) -> dict:
        dice = 0.7 + (0.05 + noise[case] if output == "refined" else 0.0)
        dice -= 0.1 + noise[case] / 2 if variant == "pointrend" and output == "refined" else 0.0
        return {"dice": dice, "hd95_mm": 5.0}

    return metric_frame(arms, scores, classes=numbered(["a"]), cases=CASES)


def _verdicts(metrics: pd.DataFrame, claims: list[Claim] = CLAIMS, **kwargs: object) -> pd.DataFrame:
    extra = [(c.arm, c.reference_arm) for c in claims if c.reference_arm]
    comparisons = paired_comparisons(metrics, metrics_to_compare=["dice"], n_resamples=500, extra_pairs=extra)
    return claim_verdicts(claims, comparisons, scored_arms(metrics), **kwargs)


def test_compare_adds_the_claims_pairs_with_the_same_paired_code() -> None:
    metrics = _metrics()
    plain = paired_comparisons(metrics, metrics_to_compare=["dice"], n_resamples=200)
    extra = paired_comparisons(metrics, metrics_to_compare=["dice"], n_resamples=200,
                               extra_pairs=[(("morse", "refined"), ("pointrend", "refined")),
                                            (("morse", "refined"), ("absent", "refined"))])  # fmt: skip
    assert len(extra) == len(plain) + 1  # a pair whose arm did not run is skipped
    row = extra.iloc[-1]
    assert row["comparison"] == "morse (refined) vs pointrend (refined)"
    assert math.isclose(row["mean_difference"], 0.1) and row["n_cases"] == len(CASES)
    assert row["better"] == "variant"


def test_verdicts_csv_has_one_row_per_claim_setting_metric() -> None:
    verdicts = _verdicts(_metrics())
    assert list(verdicts.columns) == VERDICT_COLUMNS
    assert list(verdicts["claim"]) == ["dice_refined", "vs_pointrend", "experts"]
    by = verdicts.set_index("claim")
    # 8 of 8 cases better: exact Wilcoxon p = 2 / 256; Holm over the 5 comparisons with a p-value
    # (the coarse outputs equal the baseline's: no p) gives 5 x 2 / 256 = 0.039 < 0.05
    assert by.loc["dice_refined", "state"] == "supported"
    assert math.isclose(by.loc["dice_refined", "effect"], 0.05)
    assert by.loc["dice_refined", "n_cases"] == 8 and by.loc["dice_refined", "n_seeds"] == 1
    assert by.loc["vs_pointrend", "state"] == "supported"
    assert by.loc["experts", "state"] == "not run" and "ablation_trends.csv" in by.loc["experts", "reason"]
    assert set(verdicts["budget_trend"]) == {"not available"}


def test_a_comparison_that_did_not_run_is_not_run_with_the_reason() -> None:
    verdicts = _verdicts(_metrics(pointrend=False)).set_index("claim")
    assert verdicts.loc["vs_pointrend", "state"] == "not run"
    assert verdicts.loc["vs_pointrend", "reason"] == "variant 'pointrend' is not configured for phantom2d / unet"
    # comparisons.csv made without the claims' pairs: the row is missing, and the reason says how to get it
    metrics = _metrics()
    plain = paired_comparisons(metrics, metrics_to_compare=["dice"], n_resamples=200)
    missing = claim_verdicts(CLAIMS, plain, scored_arms(metrics)).set_index("claim")
    assert "rerun `morse-bench compare --claims`" in missing.loc["vs_pointrend", "reason"]



def test_a_claim_that_did_not_run_names_the_study_that_runs_it() -> None:
    study = "config/config.yaml config/gating.yaml"
    verdicts = _verdicts(_metrics(pointrend=False), [replace(c, run_by=study) for c in CLAIMS]).set_index("claim")
    assert verdicts.loc["vs_pointrend", "reason"] == ("variant 'pointrend' is not configured for phantom2d / unet; "
                                                     f'the study `make run CONFIG="{study}"` runs it on its own data')
    ran = verdicts[verdicts["state"] != "not run"]
    assert len(ran) and not ran["reason"].str.contains("make run").any()  # only where it did not run


def test_adequacy_and_trend_columns_of_comparisons_are_read_when_present() -> None:
    metrics = _metrics()
    extra = [(c.arm, c.reference_arm) for c in CLAIMS if c.reference_arm]
    comparisons = paired_comparisons(metrics, metrics_to_compare=["dice"], n_resamples=200, extra_pairs=extra)
    comparisons["adequacy"] = "backbone under-trained"
    comparisons["budget_trend"] = "widening"
    verdicts = claim_verdicts(CLAIMS, comparisons, scored_arms(metrics)).set_index("claim")
    assert verdicts.loc["dice_refined", "state"] == "not evidence"
    assert verdicts.loc["dice_refined", "adequacy"] == "backbone under-trained"
    assert verdicts.loc["dice_refined", "budget_trend"] == "widening"
    # without the column: derived from the refinement counts
    derived = _verdicts(metrics, under_trained={("phantom2d", "unet", "morse")}).set_index("claim")
    assert derived.loc["dice_refined", "adequacy"] == "head under-trained"
    assert derived.loc["dice_refined", "state"] == "not evidence"


def test_a_trend_claim_reads_the_ablation_trend_table() -> None:
    trends = pd.DataFrame([{"knob": "num_experts", "metric": "dice", "output": "refined", "slope": -0.004,
                            "ci_low": -0.006, "ci_high": -0.002, "p_holm": 0.003}])  # fmt: skip
    row = _verdicts(_metrics(), trends=trends).set_index("claim").loc["experts"]
    assert row["state"] == "contradicted" and row["effect"] == -0.004 and row["knob"] == "num_experts"
    other = trends.assign(knob="num_points")
    row = _verdicts(_metrics(), trends=other).set_index("claim").loc["experts"]
    assert row["state"] == "not run" and "num_experts was not ablated on phantom2d / unet" in row["reason"]
