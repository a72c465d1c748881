"""Resume bit for bit with the validation curve, the snapshots and ``until: plateau``: a run
killed after a checkpoint and started again ends exactly where an uninterrupted run ends (weights,
train_log.csv, val_log.csv, snapshots, where it stopped)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from training_runs import assert_same_log, assert_same_weights, kill_after_checkpoint, make_run

from morse.engine import train as train_module
from morse.engine.loop import TrainingState, plateau_reached
from morse.engine.steps import poly_lr
from morse.engine.train import train_run


def _assert_same_run(a: Path, b: Path) -> None:
    """Weights, logs, validation rows and snapshots of two run folders agree exactly."""
    assert_same_weights(a / "model.pt", b / "model.pt")
    assert_same_log(a / "train_log.csv", b / "train_log.csv")
    pd.testing.assert_frame_equal(pd.read_csv(a / "val_log.csv"), pd.read_csv(b / "val_log.csv"), check_exact=True)
    ra, rb = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert ra["snapshots"] == rb["snapshots"] and ra["snapshots"]
    for entry in ra["snapshots"]:
        assert_same_weights(a / entry["file"], b / entry["file"])
    for key in ("iterations_done", "stop_reason", "point_loss_plateau"):
        assert ra[key] == rb[key], key
    va, vb = ra["validation"], rb["validation"]
    assert {k: v for k, v in va.items() if k != "seconds"} == {k: v for k, v in vb.items() if k != "seconds"}


def test_killed_twice_with_validation_and_snapshots_equals_uninterrupted(
    tiny_prepared_val: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run("morse", iterations=8, checkpoint_every=2, log_every=1, validate_every=1, snapshots=4)
    train_run(run, tiny_prepared_val, tmp_path / "straight", progress=False)
    resumed = tmp_path / "resumed"
    for kill_at in (2, 6):  # right after the snapshots of iterations 2 and 6 were written
        kill_after_checkpoint(monkeypatch, kill_at)
        with pytest.raises(KeyboardInterrupt):
            train_run(run, tiny_prepared_val, resumed, progress=False)
        monkeypatch.undo()
    record = train_run(run, tiny_prepared_val, resumed, progress=False)
    assert record["resumed_from_iteration"] == 6
    assert [s["iteration"] for s in record["snapshots"]] == [2, 4, 6, 8]
    assert list(pd.read_csv(resumed / "val_log.csv")["iteration"]) == list(range(1, 9))
    _assert_same_run(tmp_path / "straight", resumed)


def _weight_dice(model: torch.nn.Module, *args) -> float:
    """A stand-in validation Dice: a deterministic function of the weights that moves little."""
    first = next(model.parameters())
    return 0.8 + 1e-3 * float(torch.tanh(first.detach().double().mean()))


def test_until_plateau_stops_on_the_plateau_and_resumes_exactly(
    tiny_prepared_val: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_module, "validation_dice", _weight_dice)
    run = make_run("baseline", iterations=1, until="plateau", max_iterations=60, validate_every=1,
                   log_every=1, checkpoint_every=5)
    assert run["train"]["iterations"] == 60  # the schedules run over max_iterations
    straight = train_run(run, tiny_prepared_val, tmp_path / "straight", progress=False)
    # 8 validation rows in the last fifth of t, (0.8 t, t], first at t = 36 (rows 29..36); the
    # curve is flat, so the run stops there
    assert (straight["stop_reason"], straight["iterations_done"]) == ("plateau", 36)
    assert straight["validation"]["plateau"]["converged"] is True
    log = pd.read_csv(tmp_path / "straight" / "train_log.csv")
    assert log["iteration"].iloc[-1] == 36
    assert log["lr"].iloc[0] == pytest.approx(poly_lr(run["train"]["lr"], 0, 60, 0.9, 0.1))
    assert [s["iteration"] for s in straight["snapshots"]] == [15, 30, 36]  # planned 15, 30, (45, 60); stop
    assert torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["iteration"] == 36

    kill_after_checkpoint(monkeypatch, 20)
    with pytest.raises(KeyboardInterrupt):
        train_run(run, tiny_prepared_val, tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    monkeypatch.setattr(train_module, "validation_dice", _weight_dice)
    resumed = train_run(run, tiny_prepared_val, tmp_path / "resumed", progress=False)
    assert resumed["resumed_from_iteration"] == 20
    _assert_same_run(tmp_path / "straight", tmp_path / "resumed")


def test_a_head_run_also_waits_for_its_point_loss() -> None:
    flat_val = [{"iteration": t, "val_dice": 0.8} for t in range(1, 41)]
    falling = [{"iteration": t, "point_loss": 1.0 - 0.02 * t} for t in range(1, 41)]
    flat = [{"iteration": t, "point_loss": 0.3} for t in range(1, 41)]
    head, bare = SimpleNamespace(has_head=True), SimpleNamespace(has_head=False)
    assert plateau_reached(bare, TrainingState(log_rows=falling, val_rows=flat_val), 40) is True
    assert plateau_reached(head, TrainingState(log_rows=falling, val_rows=flat_val), 40) is False
    assert plateau_reached(head, TrainingState(log_rows=flat, val_rows=flat_val), 40) is True
    rising_val = [{"iteration": t, "val_dice": 0.5 + 0.01 * t} for t in range(1, 41)]
    assert plateau_reached(bare, TrainingState(log_rows=flat, val_rows=rising_val), 40) is False
    # a row every 5 iterations: 2 rows in the last fifth, (32, 40], too few to judge: not reached
    sparse = [{"iteration": t, "val_dice": 0.8} for t in range(5, 41, 5)]
    assert plateau_reached(bare, TrainingState(val_rows=sparse), 40) is False


def test_until_plateau_without_validation_cases_is_refused(tiny_prepared: Path, tmp_path: Path) -> None:
    run = make_run("baseline", until="plateau", max_iterations=10)
    with pytest.raises(ValueError, match=r"until: plateau.*no validation cases.*val_fraction"):
        train_run(run, tiny_prepared, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "model.pt").exists()
