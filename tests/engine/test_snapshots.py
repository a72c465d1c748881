"""Snapshots during training and their evaluation on the test split (budget_metrics.csv)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from training_runs import assert_same_weights, make_run
from workflow_runner import TINY_CONFIG

from morse.analysis.inputs.tables import aggregate_budget_metrics
from morse.config import pretrain_config, run_config, validate_config
from morse.engine.budget import BUDGET_COLUMNS, evaluate_budget
from morse.engine.evaluate import evaluate_run
from morse.engine.snapshots import snapshot_iterations
from morse.engine.train import train_run


def test_snapshot_iterations_are_rounded_fractions_of_the_stage() -> None:
    assert snapshot_iterations(4, 600) == [150, 300, 450, 600]
    assert snapshot_iterations(4, 6) == [2, 3, 5, 6]  # 1.5 -> 2, 3, 4.5 -> 5 (half up), 6
    assert snapshot_iterations(3, 10) == [3, 7, 10]
    assert snapshot_iterations(4, 2) == [1, 2]  # fewer iterations than snapshots: no repeats
    with pytest.raises(ValueError, match="count >= 1"):
        snapshot_iterations(0, 10)


@pytest.fixture(scope="module")
def trained(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A single-stage MORSE run of 6 iterations with the default 4 snapshots, evaluated."""
    out = tmp_path_factory.mktemp("snapshots") / "run"
    train_run(make_run("morse", iterations=6), tiny_prepared, out, progress=False)
    evaluate_run(out, tiny_prepared, progress=False)
    return out


def test_snapshots_are_written_at_their_iterations_and_the_last_is_model_pt(trained: Path) -> None:
    record = json.loads((trained / "run.json").read_text())
    assert record["snapshots"] == [
        {"iteration": i, "total_iteration": i, "file": f"snapshots/iter{i:06d}.pt"} for i in (2, 3, 5, 6)
    ]
    assert sorted(p.name for p in (trained / "snapshots").iterdir()) == [
        "iter000002.pt", "iter000003.pt", "iter000005.pt", "iter000006.pt"]
    assert_same_weights(trained / "snapshots" / "iter000006.pt", trained / "model.pt")
    early = torch.load(trained / "snapshots" / "iter000002.pt", weights_only=True)
    final = torch.load(trained / "model.pt", weights_only=True)
    assert early["config_hash"] == record["config_hash"] and early["iteration"] == 2
    assert any(not torch.equal(early["model"][k], final["model"][k]) for k in final["model"])
    assert final["iteration"] == 6 and record["iterations_done"] == 6 and record["stop_reason"] == "iterations"


def test_budget_metrics_final_block_equals_metrics_csv_and_a_snapshot_equals_its_weights_by_hand(
    trained: Path, tiny_prepared: Path, tmp_path: Path
) -> None:
    budget = evaluate_budget(trained, tiny_prepared, progress=False)
    assert list(budget.columns) == BUDGET_COLUMNS
    assert sorted(budget["iteration"].unique()) == [2, 3, 5, 6]
    written = pd.read_csv(trained / "budget_metrics.csv")
    metrics = pd.read_csv(trained / "metrics.csv")
    final = written[written["iteration"] == 6].drop(columns=["iteration", "total_iteration"])
    pd.testing.assert_frame_equal(final.reset_index(drop=True), metrics, check_exact=True)
    # the block of iteration 3 is what the evaluate step gives for those weights as model.pt
    by_hand = tmp_path / "by_hand"
    by_hand.mkdir()
    shutil.copy(trained / "run.json", by_hand / "run.json")
    shutil.copy(trained / "snapshots" / "iter000003.pt", by_hand / "model.pt")
    expected = evaluate_run(by_hand, tiny_prepared, progress=False)
    block = budget[budget["iteration"] == 3].drop(columns=["iteration", "total_iteration"])
    pd.testing.assert_frame_equal(block.reset_index(drop=True), expected, check_exact=True)
    assert not block["dice"].equals(final["dice"].reset_index(drop=True))  # other weights, other scores


def test_a_run_without_snapshots_gets_no_budget_rows(trained: Path, tiny_prepared: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    record = json.loads((trained / "run.json").read_text())
    del record["snapshots"]  # as run.json was before snapshots existed
    (old / "run.json").write_text(json.dumps(record))
    shutil.copy(trained / "model.pt", old / "model.pt")
    assert evaluate_budget(old, tiny_prepared, progress=False).empty
    header = pd.read_csv(old / "budget_metrics.csv")
    assert list(header.columns) == BUDGET_COLUMNS and header.empty
    # aggregated with a run that has snapshots: only that run's rows
    evaluate_budget(trained, tiny_prepared, progress=False)
    table = aggregate_budget_metrics([old / "budget_metrics.csv", trained / "budget_metrics.csv"])
    assert len(table) == len(pd.read_csv(trained / "budget_metrics.csv"))
    assert set(table["source"]) == {str(trained / "budget_metrics.csv")}
    assert table.groupby("output")["iteration"].apply(lambda s: s.is_monotonic_increasing).all()


def test_a_missing_snapshot_is_named(trained: Path, tiny_prepared: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    (copy / "snapshots" / "iter000003.pt").unlink()
    (copy / "budget_metrics.csv").unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match=r"snapshots/iter000003\.pt.*--forcerun train"):
        evaluate_budget(copy, tiny_prepared, progress=False)
    assert not (copy / "budget_metrics.csv").exists()  # nothing half-written


def test_pretraining_takes_no_snapshots_and_the_joint_stage_counts_on_from_it(
    tiny_prepared: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config.update(protocol="two_stage", datasets={"phantom": {"kind": "phantom2d"}})
    config["train"].update({"iterations": 4, "pretrain_iterations": 3, "patch_size": [32, 32], "snapshots": 2})
    config = validate_config(config)
    pre = train_run(pretrain_config(config, "phantom", "unet", 0), tiny_prepared, tmp_path / "pre", progress=False)
    assert pre["snapshots"] == [] and not (tmp_path / "pre" / "snapshots").exists()
    joint = train_run(run_config(config, "phantom", "unet", "baseline", 0), tiny_prepared, tmp_path / "joint",
                      progress=False, init_from=tmp_path / "pre" / "model.pt")
    assert [(s["iteration"], s["total_iteration"]) for s in joint["snapshots"]] == [(2, 5), (4, 7)]


def test_in_3d_the_last_budget_block_and_the_validation_equal_the_evaluate_step(tmp_path: Path) -> None:
    """Sliding-window inference: the coarse-only validation and the snapshot evaluation (without
    the overwritten-voxel trace) give exactly what the evaluate step gives."""
    from morse.data.recipes.registry import fetch_dataset, prepare_dataset

    entry = {"kind": "phantom3d", "phantom": {"n_cases": 4, "n_val_cases": 1, "size": 16, "depth": 16, "seed": 5},
             "split": {"test_fraction": 0.25, "seed": 0}}
    fetch_dataset("p3", entry, tmp_path / "raw")
    prepare_dataset("p3", entry, tmp_path / "raw", tmp_path / "data")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config.update(protocol="single_stage", datasets={"p3": entry},
                  backbones={"unet": {"features": [4, 8, 8, 8, 8, 4]}})
    config["train"].update(iterations=3, batch_size=2, patch_size=[16, 16, 16], snapshots=2, validate_every=1)
    run = run_config(validate_config(config), "p3", "unet", "morse", 0)
    out = tmp_path / "run"
    train_run(run, tmp_path / "data", out, progress=False)
    metrics = evaluate_run(out, tmp_path / "data", progress=False)
    budget = evaluate_budget(out, tmp_path / "data", progress=False)
    assert sorted(budget["iteration"].unique()) == [2, 3] and set(metrics["output"]) == {"coarse", "refined"}
    final = budget[budget["iteration"] == 3].drop(columns=["iteration", "total_iteration"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(final, metrics, check_exact=True)
    val = pd.read_csv(out / "val_log.csv")
    by_hand = tmp_path / "by_hand"
    by_hand.mkdir()
    shutil.copy(out / "run.json", by_hand / "run.json")
    shutil.copy(out / "model.pt", by_hand / "model.pt")
    scored = evaluate_run(by_hand, tmp_path / "data", progress=False, split="val")
    expected = scored.loc[scored["output"] == "coarse", "dice"].mean()  # 3 classes + 3 regions
    assert len(scored) == 2 * 6 and val["val_dice"].iloc[-1] == pytest.approx(expected, rel=1e-12, abs=1e-12)
