"""Tests for morse.analysis.aggregate against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fake_results import metric_frame

from morse.analysis.aggregate import empty_counts, summarise
from morse.analysis.inputs.tables import aggregate_metrics

DICE = {  # (seed, case, class) -> dice
    (1, "0001", "a"): 0.8,
    (1, "0001", "b"): 0.6,
    (1, "0002", "a"): 0.4,
    (1, "0002", "b"): 0.2,
    (2, "0001", "a"): 1.0,
    (2, "0001", "b"): 0.8,
    (2, "0002", "a"): 0.6,
    (2, "0002", "b"): 0.0,
}


CASES = ("0001", "0002")


def _run_frame(seed: int) -> pd.DataFrame:
    """One seed's metrics.csv: each metric a different multiple of the Dice, class b of case 0002
    empty in the reference (and, for seed 2, in the prediction)."""

    def scores(variant: str, output: str, s: int, position: int, index: int) -> dict:
        case, cls = CASES[position], "ab"[index - 1]
        dice = DICE[(s, case, cls)]
        empty = cls == "b" and case == "0002"
        return {"dice": dice, "hd95_mm": 10 * dice, "hd95_vox": 20 * dice, "hd95_mm_monai": 11 * dice,
                "nsd": dice / 2, "boundary_iou": dice / 4, "hd95_vox_authors": 20 * dice,
                "empty_reference": empty, "empty_prediction": empty and s == 2}  # fmt: skip

    return metric_frame({"morse": ["coarse"]}, scores, classes={"a": 1, "b": 2}, seeds=(seed,),
                        cases=CASES, dataset="synapse")  # fmt: skip


def _write_runs(tmp_path) -> list:
    paths = []
    for seed in (2, 1):  # unsorted on purpose
        path = tmp_path / f"seed{seed}" / "metrics.csv"
        path.parent.mkdir()
        _run_frame(seed).to_csv(path, index=False)
        paths.append(path)
    return paths


def test_aggregate_and_summarise_hand_computed(tmp_path) -> None:
    frame = aggregate_metrics(_write_runs(tmp_path))
    assert len(frame) == 8
    assert frame["seed"].tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    assert frame["case"].iloc[0] == "0001"  # leading zeros kept
    assert frame["empty_reference"].dtype == bool
    summary = summarise(frame)
    assert list(summary.columns) == [
        "dataset",
        "backbone",
        "variant",
        "output",
        "class",
        "metric",
        "mean",
        "std",
        "n_seeds",
        "n_cases",
    ]
    dice = summary[summary["metric"] == "dice"].set_index("class")
    # class a: per-seed means 0.6 and 0.8; class b: 0.4 and 0.4
    assert dice.loc["a", "mean"] == pytest.approx(0.7)
    assert dice.loc["a", "std"] == pytest.approx(math.sqrt(0.02))
    assert dice.loc["b", "mean"] == pytest.approx(0.4)
    assert dice.loc["b", "std"] == pytest.approx(0.0)
    # foreground mean: per-seed 0.5 and 0.6
    assert dice.loc["mean", "mean"] == pytest.approx(0.55)
    assert dice.loc["mean", "std"] == pytest.approx(math.sqrt(0.005))
    assert dice.loc["mean", "n_seeds"] == 2 and dice.loc["mean", "n_cases"] == 2
    assert list(dice.index) == ["a", "b", "mean"]
    hd = summary[summary["metric"] == "hd95_mm"].set_index("class")
    assert hd.loc["mean", "mean"] == pytest.approx(5.5)
    # the boundary metrics and the MONAI HD95 flow through like the others
    mean = summary[summary["class"] == "mean"].set_index("metric")["mean"]
    assert mean[["nsd", "boundary_iou", "hd95_mm_monai"]].tolist() == pytest.approx(
        [0.55 / 2, 0.55 / 4, 11 * 0.55]
    )


def test_summarise_single_seed_std_nan() -> None:
    summary = summarise(_run_frame(1))
    row = summary[(summary["metric"] == "dice") & (summary["class"] == "mean")].iloc[0]
    assert row["mean"] == pytest.approx(0.5)
    assert np.isnan(row["std"]) and row["n_seeds"] == 1


def test_aggregate_missing_column_names_file(tmp_path) -> None:
    paths = _write_runs(tmp_path)
    bad = tmp_path / "broken_metrics.csv"
    _run_frame(1).drop(columns=["hd95_vox"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"broken_metrics\.csv.*hd95_vox"):
        aggregate_metrics([*paths, bad])


def test_empty_counts(tmp_path) -> None:
    counts = empty_counts(aggregate_metrics(_write_runs(tmp_path))).set_index("class")
    assert counts.loc["b", "n"] == 4
    assert counts.loc["b", "empty_reference"] == 2
    assert counts.loc["b", "empty_prediction"] == 1
    assert counts.loc["b", "both_empty"] == 1
    assert counts.loc["b", "reference_only_empty"] == 1
    assert counts.loc["a", ["empty_reference", "empty_prediction", "both_empty"]].sum() == 0
