"""Head adequacy: per-run totals of the refinement counts, the report's table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from morse.analysis.bootstrap import bootstrap_ci
from morse.analysis.inputs.tables import read_refinement
from morse.analysis.refinement import refinement_table, refinement_totals
from morse.evaluation.refinement import REFINEMENT_COLUMNS


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
