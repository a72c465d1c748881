"""Training in the tests: resolved run configs on the tiny phantom, a simulated kill, and exact
comparisons of weights and logs (shared by the engine, reliability and SLURM tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from workflow_runner import TINY_CONFIG

from morse.config import run_config, validate_config
from morse.engine import loop as loop_module


def make_run(variant: str = "morse", iterations: int = 6, seed: int = 0, **train) -> dict:
    """A resolved single-stage run config on the phantom with 32 x 32 patches."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["datasets"] = {"phantom": {"kind": "phantom2d"}}
    config["protocol"] = "single_stage"
    config["train"].update({"iterations": iterations, "patch_size": [32, 32], **train})
    return run_config(validate_config(config), "phantom", "unet", variant, seed)


def kill_after_checkpoint(monkeypatch: pytest.MonkeyPatch, at_iteration: int | None = None) -> None:
    """Make the next ``train_run`` die (KeyboardInterrupt, as if killed) right after it writes the
    checkpoint of ``at_iteration`` (default: its first checkpoint). ``monkeypatch.undo()`` heals."""
    original = loop_module.save_checkpoint

    def save_then_die(path, payload):
        original(path, payload)
        if at_iteration is None or payload.get("iteration") == at_iteration:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop_module, "save_checkpoint", save_then_die)


def assert_same_weights(a: Path, b: Path) -> None:
    """Every tensor of two model.pt / checkpoint files is bit-identical."""
    wa = torch.load(a, map_location="cpu", weights_only=True)["model"]
    wb = torch.load(b, map_location="cpu", weights_only=True)["model"]
    assert list(wa) == list(wb)
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"tensors differ: {different[:5]}"


def assert_same_log(a: Path, b: Path) -> None:
    """Two train_log.csv files agree exactly except for the wall-clock column."""
    la = pd.read_csv(a).drop(columns=["seconds"])
    lb = pd.read_csv(b).drop(columns=["seconds"])
    pd.testing.assert_frame_equal(la, lb, check_exact=True)
