"""Helpers of the reliability tests: resolved run configs on the tiny phantom, exact comparisons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import yaml

from morse.config import run_config, validate_config

ROOT = Path(__file__).resolve().parents[2]


def make_run(variant: str = "morse", iterations: int = 6, seed: int = 0, **train) -> dict:
    """A resolved single-stage run config on the phantom with 32 x 32 patches."""
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["datasets"] = {"phantom": {"kind": "phantom2d"}}
    config["protocol"] = "single_stage"
    config["train"].update({"iterations": iterations, "patch_size": [32, 32], **train})
    return run_config(validate_config(config), "phantom", "unet", variant, seed)


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
