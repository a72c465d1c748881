"""The validation curve during training: it leaves the weights alone, its rows sit at the right
iterations and equal an independent evaluation of the same weights on the val split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from training_runs import assert_same_weights, make_run

from morse.engine.evaluate import evaluate_run
from morse.engine.train import train_run
from morse.engine.validation import VAL_LOG_COLUMNS, validate_every


def _without_val(prepared: Path, out: Path) -> Path:
    """A copy of ``prepared`` whose dataset.json lists no validation case (same training cases)."""
    shutil.copytree(prepared, out)
    meta = json.loads((out / "dataset.json").read_text())
    meta["splits"]["val"] = []
    (out / "dataset.json").write_text(json.dumps(meta))
    return out


def test_validation_leaves_the_weights_bit_identical(tiny_prepared_val: Path, tmp_path: Path) -> None:
    # morse: stochastic gating, dropout and point sampling draw from the global generators at
    # every step, so a validation that consumed a random number would change every later step
    run = make_run("morse", iterations=5, validate_every=1, log_every=1)
    with_val = train_run(run, tiny_prepared_val, tmp_path / "with", progress=False)
    plain = _without_val(tiny_prepared_val, tmp_path / "no_val")
    without = train_run(run, plain, tmp_path / "without", progress=False)
    assert_same_weights(tmp_path / "with" / "model.pt", tmp_path / "without" / "model.pt")
    assert len(pd.read_csv(tmp_path / "with" / "val_log.csv")) == 5
    assert with_val["validation"]["n_cases"] == 1 and without["validation"] is None
    empty = pd.read_csv(tmp_path / "without" / "val_log.csv")
    assert list(empty.columns) == VAL_LOG_COLUMNS and empty.empty  # a header, no rows


def _val_dice_by_hand(run_dir: Path, weights: Path, data: Path, out: Path) -> float:
    """Mean coarse Dice of ``weights`` on the val split, through the evaluate step (full metrics,
    both outputs predicted), in a copy of the run folder whose model.pt holds those weights."""
    out.mkdir()
    shutil.copy(run_dir / "run.json", out / "run.json")
    shutil.copy(weights, out / "model.pt")
    metrics = evaluate_run(out, data, progress=False, split="val")
    return float(metrics.loc[metrics["output"] == "coarse", "dice"].mean())


def test_val_log_rows_sit_at_the_validation_points_and_equal_an_evaluation_by_hand(
    tiny_prepared_val: Path, tmp_path: Path
) -> None:
    run = make_run("morse", iterations=6, validate_every=4, snapshots=3, log_every=1)
    record = train_run(run, tiny_prepared_val, tmp_path / "run", progress=False)
    log = pd.read_csv(tmp_path / "run" / "val_log.csv")
    assert list(log.columns) == VAL_LOG_COLUMNS
    assert list(log["iteration"]) == [4, 6]  # every 4 and at the last iteration
    assert list(log["stage"]) == ["single", "single"] and list(log["total_iteration"]) == [4, 6]
    # snapshots at 2, 4, 6: the weights of iteration 4 and the final ones, scored independently
    for iteration, weights in ((4, "snapshots/iter000004.pt"), (6, "model.pt")):
        by_hand = _val_dice_by_hand(tmp_path / "run", tmp_path / "run" / weights, tiny_prepared_val,
                                    tmp_path / f"by_hand{iteration}")
        assert log.loc[log["iteration"] == iteration, "val_dice"].item() == pytest.approx(by_hand, rel=1e-12, abs=1e-12)
    validation = record["validation"]
    assert (validation["metric"], validation["split"], validation["n_cases"]) == ("dice", "val", 1)
    assert validation["final"] == log["val_dice"].iloc[-1] and validation["best"] == log["val_dice"].max()
    plateau = validation["plateau"]  # 2 rows: undetermined, with the rising-metric keys
    assert plateau["converged"] is None and plateau["n_rows"] == 1 and plateau["window_end"] == 6
    assert {"start_value", "end_value", "relative_change_se", "threshold"} <= set(plateau)


def test_validation_interval_defaults_to_a_fiftieth_of_the_stage() -> None:
    assert validate_every({"train": {"iterations": 600}}) == 12
    assert validate_every({"train": {"iterations": 150}}) == 3
    assert validate_every({"train": {"iterations": 4}}) == 1
    assert validate_every({"train": {"iterations": 600, "validate_every": 7}}) == 7
    # until: plateau, over max_iterations (the run's iterations): a 250th
    assert validate_every({"train": {"iterations": 30000, "until": "plateau"}}) == 120
