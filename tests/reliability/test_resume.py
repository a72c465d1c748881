"""Resume bit for bit: a run killed after a checkpoint and started again ends exactly where an
uninterrupted run ends (model.pt tensors, train_log.csv rows, evaluation metrics.csv)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from training_runs import assert_same_log, assert_same_weights, kill_after_checkpoint, make_run
from workflow_runner import ROOT, make_workdir, run_snakemake, snakemake_command, workflow_env

from morse.data.loading.sampling import EpochShuffleSampler, infinite_loader
from morse.data.loading.slices2d import SliceDataset
from morse.data.prepared.format import read_dataset_info
from morse.engine.checkpoint import load_checkpoint
from morse.engine.evaluate import evaluate_run
from morse.engine.train import train_run


def test_sampler_start_continues_the_same_sequence() -> None:
    full = list(itertools.islice(iter(EpochShuffleSampler(7, seed=5)), 50))
    for start in (0, 1, 6, 7, 8, 21, 33):
        resumed = list(itertools.islice(iter(EpochShuffleSampler(7, seed=5, start=start)), 50 - start))
        assert resumed == full[start:], start


def test_loader_start_gives_the_same_batches(tiny_prepared: Path) -> None:
    cases = read_dataset_info(tiny_prepared).splits["train"]
    ds = SliceDataset(tiny_prepared, cases, (32, 32), augment="rotate")
    full = list(itertools.islice(infinite_loader(ds, batch_size=2, seed=11), 7))
    tail = list(itertools.islice(infinite_loader(ds, batch_size=2, seed=11, start=2 * 4), 3))
    for a, b in zip(full[4:], tail, strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
        assert a["case"] == b["case"]


def test_killed_and_resumed_twice_equals_uninterrupted(
    tiny_prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "morse": stochastic expert gating, dropout and point sampling draw from the global RNG;
    # 6 iterations x batch 2 over 9 training slices cross an epoch boundary after the resume.
    run = make_run("morse", iterations=6, checkpoint_every=2, log_every=1)
    train_run(run, tiny_prepared, tmp_path / "straight", progress=False)

    resumed = tmp_path / "resumed"
    for kill_at in (2, 4):
        kill_after_checkpoint(monkeypatch, kill_at)
        with pytest.raises(KeyboardInterrupt):
            train_run(run, tiny_prepared, resumed, progress=False)
        monkeypatch.undo()
        state = load_checkpoint(resumed / "checkpoint.pt", run["config_hash"])
        assert state["iteration"] == kill_at and len(state["log"]) == kill_at
        assert set(state["rng"]) >= {"torch", "numpy", "python"}
        momentum = [s.get("momentum_buffer") for s in state["optimizer"]["state"].values()]
        assert momentum and all(m is not None for m in momentum)
        assert not (resumed / "model.pt").exists()
    record = train_run(run, tiny_prepared, resumed, progress=False)
    assert record["resumed_from_iteration"] == 4
    assert_same_weights(tmp_path / "straight" / "model.pt", resumed / "model.pt")
    assert_same_log(tmp_path / "straight" / "train_log.csv", resumed / "train_log.csv")
    assert not (resumed / "checkpoint.pt").exists()
    assert not list(resumed.glob(".tmp-*"))

    evaluate_run(tmp_path / "straight", tiny_prepared, progress=False)
    evaluate_run(resumed, tiny_prepared, progress=False)
    assert (tmp_path / "straight" / "metrics.csv").read_bytes() == (resumed / "metrics.csv").read_bytes()


# --- real SIGKILL ------------------------------------------------------------------------------


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "morse-bench"
    return [str(script)] if script.exists() else [sys.executable, "-m", "morse.cli"]


def _wait_then_kill(proc: subprocess.Popen, checkpoint: Path, group: bool = False, timeout: float = 120) -> None:
    """SIGKILL ``proc`` (or its whole process group) as soon as ``checkpoint`` exists."""
    deadline = time.monotonic() + timeout
    while not checkpoint.exists():
        if proc.poll() is not None:
            raise AssertionError(f"finished (rc {proc.returncode}) before any checkpoint: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no checkpoint appeared in time")
        time.sleep(0.005)
    if group:  # snakemake and every job it started (in its group, or not)
        import psutil

        children = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(children, timeout=30)
    else:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _train_cmd(run: dict, data: Path, out: Path) -> list[str]:
    return [*_cli(), "train", "--run-config", json.dumps(run, sort_keys=True), "--data", str(data),
            "--out-dir", str(out), "--threads", "1", "--no-progress"]


def _evaluate(run_dir: Path, data: Path) -> bytes:
    result = subprocess.run([*_cli(), "evaluate", "--run-dir", str(run_dir), "--data", str(data),
                             "--no-progress"], capture_output=True, text=True, env=workflow_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return (run_dir / "metrics.csv").read_bytes()


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted_cli(tiny_prepared_val: Path, tmp_path: Path) -> None:
    # with a validation case: the validation rows and the snapshots must survive the kill too
    data = tiny_prepared_val
    run = make_run("morse", iterations=40, checkpoint_every=2, log_every=1, validate_every=2)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = subprocess.Popen(_train_cmd(run, data, straight), env=workflow_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    proc = subprocess.Popen(_train_cmd(run, data, killed), env=workflow_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_then_kill(proc, killed / "checkpoint.pt")
    assert not (killed / "model.pt").exists()
    again = subprocess.run(_train_cmd(run, data, killed), env=workflow_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert reference.wait(timeout=300) == 0, reference.stderr.read()[-3000:]

    record = json.loads((killed / "run.json").read_text())
    assert record["resumed_from_iteration"] >= 2
    assert_same_weights(straight / "model.pt", killed / "model.pt")
    assert_same_log(straight / "train_log.csv", killed / "train_log.csv")
    assert (straight / "val_log.csv").read_bytes() == (killed / "val_log.csv").read_bytes()
    assert [s["iteration"] for s in record["snapshots"]] == [10, 20, 30, 40]
    for snapshot in record["snapshots"]:
        assert_same_weights(straight / snapshot["file"], killed / snapshot["file"])
    assert not list(killed.glob(".tmp-*")) and not (killed / "checkpoint.pt").exists()
    assert _evaluate(straight, data) == _evaluate(killed, data)


def _snakemake(workdir: Path, *args: str, popen: bool = False):
    if popen:  # own process group: the kill must reach the training job too
        return subprocess.Popen(snakemake_command(workdir, *args, cores=1), env=workflow_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    return run_snakemake(workdir, *args, cores=1, timeout=600)


@pytest.mark.slow
def test_sigkill_of_snakemake_then_a_plain_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    from morse.config import load_config, pretrain_config

    workdir = make_workdir(tmp_path / "workflow")
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["train"].update(pretrain_iterations=40, checkpoint_every=2)
    configfile = workdir / "config" / "resume.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run_dir = workdir / "results" / "tiny" / "phantom2d" / "unet" / "pretrain" / "seed0"
    target = str(run_dir.relative_to(workdir) / "model.pt")

    proc = _snakemake(workdir, target, "--configfile", str(configfile), popen=True)
    _wait_then_kill(proc, run_dir / "checkpoint.pt", group=True)
    assert not (run_dir / "model.pt").exists()
    unlock = _snakemake(workdir, "--configfile", str(configfile), "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    # a plain rerun: the default profile (profiles/default, loaded by plain commands) reruns the
    # incomplete job; without it Snakemake would stop with IncompleteFilesException
    again = _snakemake(workdir, target, "--configfile", str(configfile))
    assert again.returncode == 0, again.stderr[-4000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["resumed_from_iteration"] >= 2

    # the uninterrupted reference: the same resolved run config, trained in one go
    run = pretrain_config(load_config(configfile), "phantom2d", "unet", 0)
    assert run["config_hash"] == record["config_hash"]
    data = workdir / "data" / "prepared" / "phantom2d"
    straight = tmp_path / "straight"
    result = subprocess.run(_train_cmd(run, data, straight), env=workflow_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_weights(straight / "model.pt", run_dir / "model.pt")
    assert_same_log(straight / "train_log.csv", run_dir / "train_log.csv")
    assert _evaluate(straight, data) == _evaluate(run_dir, data)
