"""The regime of a comparison: is the backbone trained, the trend across the training budget,
and the adequacy column of comparisons.csv (morse.analysis.regime)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_regime import budget_metrics, series, validation_record
from fake_results import make_runs, metric_frame, numbered

from morse.analysis.inputs.tables import read_references
from morse.analysis.refinement import FIXES_MORE, NO_HEAD, UNDER_TRAINED
from morse.analysis.regime.adequacy import (
    ADEQUATE,
    BACKBONE,
    HEAD,
    UNDETERMINED,
    adequacy_of,
    with_regime,
)
from morse.analysis.regime.backbone import backbone_adequacy
from morse.analysis.regime.budget import (
    CLOSING,
    CROSSING,
    NOT_AVAILABLE,
    STABLE,
    WIDENING,
    budget_comparisons,
    budget_trends,
    classify_trend,
)
from morse.analysis.regime.heads import HURTS_CONVERGED

ITERATIONS = np.linspace(12, 600, 50).round().astype(int)
REFERENCES = read_references(None)  # config/reference_results.csv


def _runs(pretrain: str | None, baseline: str | None, kind: str = "acdc", seeds: tuple[int, ...] = (0,)):
    """Pretrain and baseline runs of acdc / unet whose validation series are ``rising`` / ``flat``
    (None: no validation record), and a morse run."""
    def record(shape: str | None, seed: int) -> dict:
        return {} if shape is None else {"validation": validation_record(ITERATIONS, series(shape, seed=seed), 600)}

    first = make_runs([{"dataset": "acdc", "backbone": "unet", "variant": "pretrain", "seed": s,
                        "dataset_kind": kind, **record(pretrain, s)} for s in seeds])  # fmt: skip
    runs = make_runs([{"dataset": "acdc", "backbone": "unet", "variant": v, "seed": s, "dataset_kind": kind,
                       **(record(baseline, s) if v == "baseline" else {})}
                      for v in ("baseline", "morse") for s in seeds])  # fmt: skip
    return runs, first


def _metrics(dice: float) -> pd.DataFrame:
    """Baseline coarse test Dice: ``dice`` in every case and class but one case 0.02 higher and one
    0.02 lower (mean ``dice``); morse coarse and refined 0.1 lower."""
    def scores(variant: str, output: str, _seed: int, case: int, _cls: int) -> dict:
        value = dice + (0.02, -0.02, 0.0, 0.0)[case] - (0.1 if variant == "morse" else 0.0)
        return {"dice": value, "hd95_mm": 3.0}

    return metric_frame({"baseline": ["coarse"], "morse": ["coarse", "refined"]}, scores,
                        classes=numbered(["RV", "Myo", "LV"]), cases=["a", "b", "c", "d"], dataset="acdc")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# is the backbone trained?
# ---------------------------------------------------------------------------------------------
def test_a_rising_validation_series_makes_the_backbone_under_trained() -> None:
    runs, first = _runs(pretrain="rising", baseline="flat", kind="phantom2d")
    row = backbone_adequacy(runs, first, _metrics(0.85), REFERENCES).iloc[0]
    assert row["state"] == "under-trained" and row["val_converged"] is False
    plateau = validation_record(ITERATIONS, series("rising"), 600)["plateau"]
    change = f"+{100 * plateau['relative_change']:.1f} % ± {100 * plateau['relative_change_se']:.1f} %"
    assert row["reason"] == ("under-trained: validation Dice still rising at the end of pretraining, seed 0 "
                             f"({change} over the last fifth); no published reference: judged by convergence "
                             "alone")  # fmt: skip


def test_a_flat_validation_series_without_a_reference_is_trained_by_convergence_alone() -> None:
    runs, first = _runs(pretrain="flat", baseline="flat", kind="phantom2d", seeds=(0, 1))
    row = backbone_adequacy(runs, first, _metrics(0.85), REFERENCES).iloc[0]
    assert (row["state"], row["val_converged"]) == ("trained", True)
    assert row["reason"] == ("trained: validation Dice on its plateau in every pretrain and baseline runs (4 "
                             "run(s)); no published reference: judged by convergence alone")  # fmt: skip
    assert np.isnan(row["reference_dice"]) and row["baseline_dice"] == pytest.approx(0.85)


def test_the_baseline_is_set_beside_the_field_reference_of_its_dataset_kind() -> None:
    """acdc / unet: the TransUNet paper's R50-U-Net, 87.55 %; the baseline's 0.797 is 91 % of it."""
    runs, first = _runs(pretrain="flat", baseline="flat")
    row = backbone_adequacy(runs, first, _metrics(0.797), REFERENCES, min_fraction=0.9).iloc[0]
    assert row["reference_dice"] == pytest.approx(0.8755)
    assert row["reference_fraction"] == pytest.approx(0.797 / 0.8755)
    assert row["state"] == "trained" and row["reference_source"] == "TransUNet paper, ACDC table"
    assert "reaches 91 % of the reference Dice, 87.55 (TransUNet paper, ACDC table, 2D R50-U-Net" in row["reason"]
    low = backbone_adequacy(runs, first, _metrics(0.797), REFERENCES, min_fraction=0.95).iloc[0]
    assert low["state"] == "under-trained" and low["val_converged"] is True
    assert low["reason"].startswith("under-trained: validation Dice on its plateau")
    assert low["reason"].endswith("mean Dice over RV, Myo, LV), below the 95 % required")


def test_a_reference_alone_can_judge_and_nothing_gives_undetermined() -> None:
    runs, first = _runs(pretrain=None, baseline=None)
    assert backbone_adequacy(runs, first, _metrics(0.85), REFERENCES).iloc[0]["state"] == "trained"
    runs, first = _runs(pretrain=None, baseline=None, kind="phantom2d")
    row = backbone_adequacy(runs, first, _metrics(0.85), REFERENCES).iloc[0]
    assert row["state"] == "undetermined" and row["val_converged"] is None
    assert "no validation curve recorded" in row["reason"]


# ---------------------------------------------------------------------------------------------
# the trend across the budget
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("differences", "half_widths", "trend"), [
    ([-0.08, -0.05, -0.02, -0.01], [0.01] * 4, CLOSING),     # |d| 0.08 -> 0.01, shrank 0.07 > 0.01
    ([-0.03, -0.035, -0.028, -0.032], [0.01] * 4, STABLE),  # moved 0.002 < 0.01
    ([0.01, 0.02, 0.04, 0.06], [0.01] * 4, WIDENING),       # grew 0.05 > 0.01
    ([-0.05, -0.01, 0.02, 0.05], [0.01] * 4, CROSSING),     # CIs exclude 0 with both signs
    ([-0.05, -0.01, 0.02, 0.05], [0.06] * 4, STABLE),       # same line, every CI holds 0: |d| equal
    ([-0.08, -0.02], [0.07, 0.07], STABLE),                 # shrank 0.06 < the last half-width 0.07
    ([-0.02], [0.01], NOT_AVAILABLE),                       # one snapshot: no trend
    ([-0.08, np.nan], [0.01, 0.01], NOT_AVAILABLE),
])  # fmt: skip
def test_trend_classifier_on_hand_made_series(differences: list, half_widths: list, trend: str) -> None:
    d, h = np.asarray(differences), np.asarray(half_widths)
    assert classify_trend(d, d - h, d + h) == trend


def _budget(gap) -> pd.DataFrame:  # noqa: ANN001
    """Snapshots 150, 300, 450, 600 after 600 pretraining iterations; baseline Dice 0.6 + 0.05 k
    with a per-case spread, morse coarse ``gap(k)`` above it in every case, refined 0.01 above."""
    def dice(variant: str, output: str, k: int, case: int) -> float:
        base = 0.6 + 0.05 * k + 0.01 * case
        return base if variant == "baseline" else base + (gap(k) if output == "coarse" else 0.01)

    return budget_metrics({"baseline": ["coarse"], "morse": ["coarse", "refined"]}, dice,
                          [150, 300, 450, 600], offset=600, dataset="acdc")  # fmt: skip


def test_budget_comparisons_pair_each_snapshot_like_comparisons_csv() -> None:
    rows = budget_comparisons(_budget(lambda k: -0.08 / (k + 1)), n_resamples=500)
    coarse = rows[(rows["output"] == "coarse") & (rows["metric"] == "dice")]
    assert list(coarse["total_iteration"]) == [750, 900, 1050, 1200] and list(coarse["iteration"]) == [150, 300, 450, 600]
    assert coarse["difference"].to_numpy() == pytest.approx([-0.08, -0.04, -0.08 / 3, -0.02])
    assert (coarse["ci_low"] == coarse["difference"]).all() and (coarse["n_cases"] == 8).all()  # equal differences
    hd95 = rows[(rows["output"] == "coarse") & (rows["metric"] == "hd95_mm")]
    assert hd95["difference"].to_numpy() == pytest.approx([0.8, 0.4, 0.8 / 3, 0.2])  # variant - baseline
    assert set(rows["metric"]) == {"dice", "hd95_mm", "nsd", "boundary_iou"}  # nsd, boundary IoU take the Dice
    trends = budget_trends(rows).set_index(["output", "metric"])
    assert trends.loc[("coarse", "dice"), "trend"] == CLOSING and trends.loc[("refined", "dice"), "trend"] == STABLE
    assert trends.loc[("coarse", "dice"), ["first_iteration", "last_iteration", "n_snapshots"]].tolist() == [750, 1200, 4]


def test_snapshots_without_a_partner_are_left_out_and_no_snapshots_give_no_rows() -> None:
    budget = _budget(lambda k: 0.01 * k)
    budget = budget[~((budget["variant"] == "baseline") & (budget["total_iteration"] == 900))]
    rows = budget_comparisons(budget, n_resamples=200)
    assert sorted(set(rows["total_iteration"])) == [750, 1050, 1200]
    assert budget_comparisons(budget.iloc[:0]).empty and budget_trends(budget_comparisons(None)).empty


# ---------------------------------------------------------------------------------------------
# comparisons.csv: adequacy and budget_trend
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("backbone", "refined", "head", "expected"), [
    ("under-trained", True, UNDER_TRAINED, BACKBONE),   # the backbone wins over the head
    ("under-trained", False, FIXES_MORE, BACKBONE),
    ("undetermined", True, UNDER_TRAINED, HEAD),        # the head still judged without the backbone
    ("trained", True, UNDER_TRAINED, HEAD),
    ("trained", False, UNDER_TRAINED, ADEQUATE),        # the coarse output does not use the head
    ("trained", True, FIXES_MORE, ADEQUATE),
    ("trained", True, HURTS_CONVERGED, ADEQUATE),       # trained, and refinement does not help
    ("trained", True, None, UNDETERMINED),              # no refinement counts
    ("undetermined", False, None, UNDETERMINED),
    (None, False, NO_HEAD, UNDETERMINED),
])  # fmt: skip
def test_adequacy_precedence(backbone: str | None, refined: bool, head: str | None, expected: str) -> None:
    assert adequacy_of(backbone, refined, head) == expected


def test_every_comparison_row_gets_adequacy_and_its_trend() -> None:
    comparisons = pd.DataFrame([
        {"dataset": d, "backbone": "unet", "metric": "dice", "variant": "morse", "output": o,
         "reference_variant": rv, "reference_output": "coarse"}
        for d in ("acdc", "phantom2d") for o, rv in (("coarse", "baseline"), ("refined", "baseline"),
                                                      ("refined", "morse"))
    ])  # fmt: skip
    backbones = pd.DataFrame({"dataset": ["acdc", "phantom2d"], "backbone": "unet",
                              "state": ["under-trained", "trained"]})  # fmt: skip
    heads = pd.DataFrame({"dataset": ["acdc", "phantom2d"], "backbone": "unet", "variant": "morse",
                          "step": "all", "verdict": UNDER_TRAINED})  # fmt: skip
    trends = pd.DataFrame({"dataset": "phantom2d", "backbone": "unet", "variant": "morse",
                           "output": ["coarse", "refined"], "metric": "dice", "trend": [CLOSING, CROSSING]})  # fmt: skip
    out = with_regime(comparisons, backbones, heads, trends)
    assert list(out["adequacy"]) == [BACKBONE] * 3 + [ADEQUATE, HEAD, HEAD]
    # the trend of refined vs baseline is not the refined-vs-own-coarse row's; acdc has none
    assert list(out["budget_trend"]) == [NOT_AVAILABLE] * 3 + [CLOSING, CROSSING, NOT_AVAILABLE]
