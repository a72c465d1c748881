"""Smoke test of benchmarks/run.py: it runs and writes its tables and figure (no timing checks)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def _load_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_measure_variant_rows_and_figure(tmp_path):
    run = _load_run()
    setting = run.Setting("unet2d_32", "unet", 2, 32, 1, num_points=16, subdivision_points=32)
    rows = [
        run.measure_variant(setting, label, base, extra, 3, 1, 0, run.torch.device("cpu"), path)
        for label, base, extra, path in [
            ("baseline", "baseline", {}, "fast"),
            ("morse", "morse", {"expert_width": 8}, "fast"),
            ("morse", "morse", {"expert_width": 8}, "reference"),
        ]
    ]
    table = pd.DataFrame(rows)
    for column in ("train_step_s", "inference_s", "train_gflop", "inference_gflop", "train_peak_mb"):
        assert table[column].notna().all(), column
    assert (table["train_gflop"] > 0).all()
    # the fast path computes the same maths with fewer FLOPs
    fast, ref = table.iloc[1], table.iloc[2]
    assert fast["train_gflop"] < ref["train_gflop"]
    table["train_step_s_ratio"] = table["train_step_s"] / table["train_step_s"].iloc[0]
    table["inference_s_ratio"] = table["inference_s"] / table["inference_s"].iloc[0]
    run.plot(table, tmp_path / "costs.png")
    assert (tmp_path / "costs.png").stat().st_size > 0
