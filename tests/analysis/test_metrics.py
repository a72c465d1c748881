"""Tests for morse.analysis.metrics and morse.analysis.aggregate against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from medpy.metric import binary as medpy_binary

from morse.analysis.aggregate import aggregate_metrics, empty_counts, summarise
from morse.analysis.metrics import METRIC_COLUMNS, binary_metrics, case_metrics, worst_distance

NAMES = ["background", "organ"]


def _one(rows: list[dict], name: str = "organ") -> dict:
    (row,) = [r for r in rows if r["class"] == name]
    return row


def test_shifted_squares_2d_anisotropic() -> None:
    # 30x30 square shifted by 4 voxels along x (axis 1): overlap 30*26 -> dice 26/30;
    # every surface point is at most 4 voxels from the other surface and > 5 % are exactly 4.
    ref = np.zeros((64, 64), dtype=np.int64)
    pred = np.zeros_like(ref)
    ref[10:40, 10:40] = 1
    pred[10:40, 14:44] = 1
    row = _one(case_metrics(pred, ref, spacing=(1.3, 0.6), class_names=NAMES))
    assert row["dice"] == pytest.approx(26 / 30)
    assert row["hd95_vox"] == pytest.approx(4.0)
    assert row["hd95_mm"] == pytest.approx(4 * 0.6)
    assert row["dice_authors"] == pytest.approx(26 / 30)
    assert row["hd95_vox_authors"] == pytest.approx(4.0)
    assert row["class_index"] == 1
    assert not row["empty_reference"] and not row["empty_prediction"]
    assert set(METRIC_COLUMNS) <= set(row)


def test_shifted_cubes_3d_anisotropic() -> None:
    # 20^3 cube shifted by 3 slices along z with 2.5 mm slices: hd95 = 3 vox = 7.5 mm.
    ref = np.zeros((40, 40, 40), dtype=np.uint8)
    pred = np.zeros_like(ref)
    ref[10:30, 10:30, 10:30] = 1
    pred[13:33, 10:30, 10:30] = 1
    row = _one(case_metrics(pred, ref, spacing=(2.5, 0.7, 0.9), class_names=NAMES))
    assert row["dice"] == pytest.approx(17 / 20)
    assert row["hd95_vox"] == pytest.approx(3.0)
    assert row["hd95_mm"] == pytest.approx(7.5)


def test_crop_matches_full_volume_medpy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.random((24, 20, 12)) > 0.97
        b = rng.random((24, 20, 12)) > 0.97
        a[:4, :4, :4] = True  # touches the image border
        got = binary_metrics(a, b, (1.0, 2.0, 3.0))
        assert got["hd95_mm"] == pytest.approx(medpy_binary.hd95(a, b, voxelspacing=(1, 2, 3)))
        assert got["hd95_vox"] == pytest.approx(medpy_binary.hd95(a, b))


SHAPE = (20, 30)
SPACING = (2.0, 0.5)
WORST_MM = math.sqrt((20 * 2.0) ** 2 + (30 * 0.5) ** 2)
WORST_VOX = math.sqrt(20**2 + 30**2)
OBJ = (slice(5, 10), slice(5, 12))


@pytest.mark.parametrize(
    ("pred_has", "ref_has", "ours", "authors"),
    [
        # both empty: ours = correct rejection; authors = dice 0, hd95 0
        (False, False, (1.0, 0.0, 0.0), (0.0, 0.0)),
        # false positive on empty reference: ours = worst; authors = perfect
        (True, False, (0.0, WORST_MM, WORST_VOX), (1.0, 0.0)),
        # missed structure: ours = worst; authors = dice 0 but hd95 0
        (False, True, (0.0, WORST_MM, WORST_VOX), (0.0, 0.0)),
        # both present and identical
        (True, True, (1.0, 0.0, 0.0), (1.0, 0.0)),
    ],
)
def test_empty_mask_conventions(pred_has: bool, ref_has: bool, ours: tuple, authors: tuple) -> None:
    pred = np.zeros(SHAPE, dtype=np.int32)
    ref = np.zeros(SHAPE, dtype=np.int32)
    if pred_has:
        pred[OBJ] = 1
    if ref_has:
        ref[OBJ] = 1
    row = _one(case_metrics(pred, ref, SPACING, NAMES))
    assert (row["dice"], row["hd95_mm"], row["hd95_vox"]) == pytest.approx(ours)
    assert (row["dice_authors"], row["hd95_vox_authors"]) == pytest.approx(authors)
    assert row["empty_reference"] is (not ref_has)
    assert row["empty_prediction"] is (not pred_has)


def test_worst_distance() -> None:
    assert worst_distance((3, 4)) == pytest.approx(5.0)
    assert worst_distance((3, 4), (2.0, 0.5)) == pytest.approx(math.sqrt(36 + 4))


def test_regions_are_unions_and_classes_ordered() -> None:
    ref = np.zeros((16, 16), dtype=np.int64)
    ref[2:6, 2:6] = 1
    ref[8:12, 8:12] = 2
    pred = np.zeros_like(ref)
    pred[ref == 1] = 2  # labels swapped: each class wrong, the union right
    pred[ref == 2] = 1
    rows = case_metrics(
        pred, ref, (1.0, 1.0), ["bg", "a", "b", "c"], regions={"ab": [1, 2], "c_only": [3]}
    )
    assert [r["class"] for r in rows] == ["a", "b", "c", "ab", "c_only"]
    assert [r["class_index"] for r in rows] == [1, 2, 3, -1, -1]
    assert _one(rows, "a")["dice"] == 0.0
    assert _one(rows, "ab")["dice"] == 1.0
    assert _one(rows, "ab")["hd95_mm"] == 0.0
    assert _one(rows, "c")["dice"] == 1.0 and _one(rows, "c")["empty_reference"]
    assert _one(rows, "c_only")["dice"] == 1.0


def test_invalid_inputs_raise() -> None:
    a = np.zeros((8, 8), dtype=np.int64)
    with pytest.raises(ValueError, match="shape"):
        case_metrics(a, np.zeros((8, 9), dtype=np.int64), (1.0, 1.0), NAMES)
    with pytest.raises(ValueError, match="spacing"):
        case_metrics(a, a, (1.0, 1.0, 1.0), NAMES)
    with pytest.raises(ValueError, match="labels outside"):
        case_metrics(a + 2, a, (1.0, 1.0), NAMES)
    with pytest.raises(TypeError):
        case_metrics(a.astype(float), a, (1.0, 1.0), NAMES)
    with pytest.raises(ValueError, match="region"):
        case_metrics(a, a, (1.0, 1.0), NAMES, regions={"bad": [0]})


def test_nsd_optional() -> None:
    ref = np.zeros((24, 24), dtype=np.int64)
    ref[4:16, 4:16] = 1
    pred = np.roll(ref, 1, axis=1)
    inside = _one(case_metrics(pred, ref, (1.0, 1.0), NAMES, nsd_tolerance_mm=1.5))
    outside = _one(case_metrics(pred, ref, (1.0, 5.0), NAMES, nsd_tolerance_mm=1.5))
    assert inside["nsd"] == pytest.approx(1.0)
    assert outside["nsd"] < 1.0
    assert "nsd" not in _one(case_metrics(pred, ref, (1.0, 1.0), NAMES))


# ---------------------------------------------------------------- aggregate

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


def _run_frame(seed: int) -> pd.DataFrame:
    rows = []
    for (s, case, cls), dice in DICE.items():
        if s != seed:
            continue
        rows.append(
            {
                "dataset": "synapse",
                "backbone": "unet",
                "variant": "morse",
                "seed": s,
                "output": "coarse",
                "case": case,
                "class": cls,
                "class_index": 1 if cls == "a" else 2,
                "dice": dice,
                "hd95_mm": 10 * dice,
                "hd95_vox": 20 * dice,
                "dice_authors": dice,
                "hd95_vox_authors": 20 * dice,
                "empty_reference": cls == "b" and case == "0002",
                "empty_prediction": cls == "b" and case == "0002" and s == 2,
            }
        )
    return pd.DataFrame(rows)


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
