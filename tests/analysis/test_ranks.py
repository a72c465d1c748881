"""Rank stability: bootstrap rankings of the variants' outputs, share ranked first, Kendall's tau."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fake_results import metric_frame, numbered

from morse.analysis.ranks import RANK_COLUMNS, rank_stability, rank_table

CASES = [f"c{i}" for i in range(12)]
ARMS = {"baseline": ["coarse"], "morse": ["coarse", "refined"]}


def _metrics(score) -> pd.DataFrame:  # noqa: ANN001
    rng = np.random.default_rng(3)
    base = rng.uniform(0.5, 0.8, len(CASES))  # cases differ a lot; the arms' order is what is fixed
    return metric_frame(ARMS, lambda v, o, s, case, i: score(v, o, base[case]), classes=numbered(["a", "b"]),
                        cases=CASES)  # fmt: skip


def _entry(ranks: pd.DataFrame, metric: str, variant: str, output: str) -> pd.DataFrame:
    return ranks[(ranks["metric"] == metric) & (ranks["variant"] == variant) & (ranks["output"] == output)]


def test_a_variant_that_wins_every_case_is_first_in_every_resample() -> None:
    # refined beats coarse beats baseline in every case, by 0.01 while the cases spread over 0.3:
    # every resample of the cases keeps the order
    bonus = {("baseline", "coarse"): 0.0, ("morse", "coarse"): 0.01, ("morse", "refined"): 0.02}
    ranks = rank_stability(_metrics(lambda v, o, b: {"dice": b + bonus[v, o], "hd95_mm": 10 - 100 * bonus[v, o]}),
                           n_resamples=300)  # fmt: skip
    assert list(ranks.columns) == RANK_COLUMNS
    for metric in ("dice", "hd95_mm"):  # HD95: lower is better, the same arm wins
        winner = _entry(ranks, metric, "morse", "refined")
        assert (winner["share_first"] == 1.0).all() and (winner["full_rank"] == 1).all()
        assert winner.set_index("rank")["share"].to_dict() == {1: 1.0, 2: 0.0, 3: 0.0}
        last = _entry(ranks, metric, "baseline", "coarse")
        assert (last["full_rank"] == 3).all() and (last["share_first"] == 0.0).all() and (last["mean_rank"] == 3).all()
        table = ranks[ranks["metric"] == metric]
        assert (table["kendall_tau_median"] == 1.0).all() and (table["kendall_tau_low"] == 1.0).all()
        assert (table["n_cases"] == len(CASES)).all() and (table["n_resamples"] == 300).all()
    # each entry's shares over the ranks sum to one
    sums = ranks.groupby(["metric", "variant", "output"])["share"].sum()
    assert np.allclose(sums, 1.0)


def test_two_tied_entries_share_first_place() -> None:
    # morse's coarse and refined outputs are identical and better than the baseline in every case
    ranks = rank_stability(_metrics(lambda v, o, b: {"dice": b + (0.05 if v == "morse" else 0.0), "hd95_mm": 5.0}),
                           metrics_to_rank=["dice"], n_resamples=200)  # fmt: skip
    for output in ("coarse", "refined"):
        tied = _entry(ranks, "dice", "morse", output)
        assert (tied["share_first"] == 1.0).all() and (tied["full_rank"] == 1).all()
    assert (_entry(ranks, "dice", "baseline", "coarse")["full_rank"] == 3).all()  # rank after two firsts
    assert (ranks["kendall_tau_median"] == 1.0).all()


def test_a_close_race_is_uncertain_and_seeded() -> None:
    values = pd.DataFrame({"a": [0.9, 0.3, 0.85, 0.7, 0.6, 0.5], "b": [0.5, 0.6, 0.55, 0.4, 0.65, 0.52]})
    table = rank_table(values, higher=True, n_resamples=400, seed=1)
    first = table[table["rank"] == 1].set_index("entry")["share"]
    assert 0.5 < first["a"] < 1.0 and 0.0 < first["b"] < 0.5  # a is ahead on the full data, not always
    assert table["kendall_tau_low"].iloc[0] == -1.0  # some resamples swap the two
    assert table.equals(rank_table(values, higher=True, n_resamples=400, seed=1))


def test_an_experiment_with_one_entry_has_no_ranking() -> None:
    one = metric_frame({"baseline": ["coarse"]}, lambda *a: {"dice": 0.5, "hd95_mm": 1.0}, classes=numbered(["a"]))
    ranks = rank_stability(one)
    assert ranks.empty and list(ranks.columns) == RANK_COLUMNS
