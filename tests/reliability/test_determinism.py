"""Determinism on CPU: the same seed and config give identical weights and metrics.csv."""

from __future__ import annotations

from pathlib import Path

import torch
from training_runs import assert_same_log, assert_same_weights, make_run

from morse.engine.evaluate import evaluate_run
from morse.engine.train import make_deterministic, train_run


def test_same_seed_and_config_give_identical_metrics(tiny_prepared: Path, tmp_path: Path) -> None:
    run = make_run("morse", iterations=3)
    for name in ("a", "b"):
        train_run(run, tiny_prepared, tmp_path / name, progress=False)
        evaluate_run(tmp_path / name, tiny_prepared, progress=False)
    assert_same_weights(tmp_path / "a" / "model.pt", tmp_path / "b" / "model.pt")
    assert_same_log(tmp_path / "a" / "train_log.csv", tmp_path / "b" / "train_log.csv")
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()


def test_another_seed_gives_other_weights(tiny_prepared: Path, tmp_path: Path) -> None:
    train_run(make_run("baseline", iterations=2, seed=0), tiny_prepared, tmp_path / "s0", progress=False)
    train_run(make_run("baseline", iterations=2, seed=1), tiny_prepared, tmp_path / "s1", progress=False)
    a = torch.load(tmp_path / "s0" / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "s1" / "model.pt", weights_only=True)["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_make_deterministic_leaves_cpu_runs_alone() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    make_deterministic(torch.device("cpu"))
    assert torch.are_deterministic_algorithms_enabled() == before
