"""Head adequacy: counts at the overwritten pixels, per-run totals, the report's table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from morse.analysis.refinement import (
    REFINEMENT_COLUMNS,
    read_refinement,
    refinement_counts,
    refinement_table,
    refinement_totals,
)
from morse.analysis.stats import bootstrap_ci

CLASSES = ["background", "a", "b"]


def _by(rows: list[dict], step: str) -> dict[str, dict]:
    return {r["class"]: r for r in rows if r["step"] == step}


def test_counts_at_overwritten_pixels_match_a_hand_count():
    reference = np.array([[0, 0, 1], [1, 2, 2]])
    coarse = np.array([[0, 1, 1], [0, 2, 1]])
    refined = np.array([[0, 0, 2], [1, 2, 1]])
    step1 = np.array([[0, 1, 1], [1, 0, 0]], bool)
    step2 = np.array([[0, 1, 0], [0, 0, 1]], bool)
    rows = refinement_counts(coarse, refined, np.stack([step1, step2]), reference, CLASSES)
    assert len(rows) == 3 * len(CLASSES)  # steps 1, 2 and "all", every class
    one = _by(rows, "1")
    # (0,1): ref 0, coarse wrong -> refined right; (0,2): ref 1, right -> wrong; (1,0): ref 1 fixed
    background = one["background"]
    assert (background["overwritten"], background["fixed"], background["broken"]) == (1, 1, 0)
    assert (one["a"]["overwritten"], one["a"]["fixed"], one["a"]["broken"]) == (2, 1, 1)
    assert (one["a"]["coarse_correct"], one["a"]["refined_correct"]) == (1, 1)
    assert one["b"]["overwritten"] == 0
    two = _by(rows, "2")  # (0,1) fixed again; (1,2): ref 2, coarse 1, refined 1: wrong to wrong
    assert (two["background"]["fixed"], two["b"]["wrong_to_wrong"], two["b"]["overwritten"]) == (1, 1, 1)
    union = _by(rows, "all")
    assert [union[c]["overwritten"] for c in CLASSES] == [1, 2, 1]  # (0,1) counted once
    assert sum(r["fixed"] for r in union.values()) == 2
    assert sum(r["broken"] for r in union.values()) == 1
    for r in rows:  # every overwritten pixel is in exactly one of the four transitions
        right_to_right = r["coarse_correct"] - r["broken"]
        assert right_to_right + r["fixed"] + r["broken"] + r["wrong_to_wrong"] == r["overwritten"]
        assert r["refined_correct"] == right_to_right + r["fixed"]


def test_counts_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        refinement_counts(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((1, 3, 2), bool),
                          np.zeros((2, 3)), CLASSES)


def _rows(variant: str, seed: int, case: str, fixed: int, broken: int, overwritten: int = 10,
          step: str = "all") -> dict:
    right_to_right = overwritten - fixed - broken - 1  # one wrong-to-wrong pixel
    return {"dataset": "d", "backbone": "unet", "variant": variant, "seed": seed, "case": case,
            "step": step, "class": "a", "class_index": 1, "overwritten": overwritten,
            "coarse_correct": right_to_right + broken, "refined_correct": right_to_right + fixed,
            "fixed": fixed, "broken": broken, "wrong_to_wrong": 1}


@pytest.fixture
def rows() -> pd.DataFrame:
    good = [_rows("good", s, c, fixed=3 + s, broken=1) for s in (0, 1) for c in ("c1", "c2", "c3")]
    bad = [_rows("bad", 0, c, fixed=1, broken=b) for c, b in (("c1", 4), ("c2", 2), ("c3", 5))]
    other_step = [_rows("good", 0, "c1", fixed=0, broken=9, step="1")]
    return pd.DataFrame(good + bad + other_step, columns=REFINEMENT_COLUMNS)


def test_per_run_totals_and_the_under_trained_flag(rows):
    totals = refinement_totals(rows).set_index(["variant", "seed", "step"])
    good0 = totals.loc[("good", 0, "all")]
    assert (good0["fixed"], good0["broken"], good0["overwritten"]) == (9, 3, 30)
    assert good0["coarse_accuracy"] == pytest.approx((3 * 5 + 3) / 30)  # right-to-right 5 + broken 1
    assert good0["accuracy_change"] == pytest.approx((9 - 3) / 30)
    assert not good0["under_trained"]
    assert totals.loc[("bad", 0, "all"), "under_trained"]  # 11 broken > 3 fixed
    assert totals.loc[("good", 0, "1"), "under_trained"]  # the steps are kept apart


def test_report_table_pairs_cases_and_says_no_head(rows):
    runs = pd.DataFrame({"dataset": "d", "backbone": "unet",
                         "variant": ["good", "good", "bad", "bad", "baseline"],
                         "output": ["coarse", "refined", "coarse", "refined", "coarse"]})
    table = refinement_table(rows, runs, n_resamples=2000).set_index("variant")
    assert set(table.index) == {"good", "bad", "baseline"}
    bad = table.loc["bad"]
    changes = np.array([1 - 4, 1 - 2, 1 - 5]) / 10  # per case, one seed
    assert bad["case_mean_change"] == pytest.approx(changes.mean())
    assert (bad["ci_low"], bad["ci_high"]) == pytest.approx(bootstrap_ci(changes, n_resamples=2000))
    assert bad["ci_high"] < 0 and bad["verdict"] == "under-trained"
    good = table.loc["good"]  # seeds averaged per case: (2/10 + 3/10) / 2 in every case -> no spread
    assert good["case_mean_change"] == pytest.approx(0.25)
    assert (good["ci_low"], good["ci_high"]) == pytest.approx((0.25, 0.25))
    assert (good["n_seeds"], good["n_cases"], good["fixed"], good["broken"]) == (2, 3, 21, 6)
    assert good["verdict"] == "fixes at least as much as it breaks"
    baseline = table.loc["baseline"]
    assert baseline["verdict"] == "no head" and np.isnan(baseline["overwritten"])
    per_step = refinement_table(rows, runs, step=None, n_resamples=200)
    assert set(per_step.loc[per_step["variant"] == "good", "step"]) == {"1", "all"}


def test_read_refinement_keeps_text_columns_and_skips_headless_runs(tmp_path, rows):
    rows.assign(case="0001").to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame(columns=REFINEMENT_COLUMNS).to_csv(tmp_path / "empty.csv", index=False)
    frame = read_refinement([tmp_path / "a.csv", tmp_path / "empty.csv"])
    assert len(frame) == len(rows) and set(frame["case"]) == {"0001"}
    assert set(frame["step"]) == {"1", "all"}
    rows.drop(columns="fixed").to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(ValueError, match="old.csv.*fixed"):
        read_refinement([tmp_path / "old.csv"])
