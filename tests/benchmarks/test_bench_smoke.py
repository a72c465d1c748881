"""Smoke test of benchmarks/run.py: it runs and writes its tables and figure (no timing checks)."""

from __future__ import annotations

import pandas as pd
import pytest
from bench_scripts import load_benchmark


def test_measure_variant_rows_and_figure(tmp_path):
    run = load_benchmark("run")
    setting = run.Setting("unet2d_32", "unet", 2, 32, 1, num_points=16, subdivision_points=32)
    profiles: list = []
    rows = [
        run.measure_variant(
            setting, label, base, extra, 3, 1, 0, run.torch.device("cpu"), path, profile=profiles
        )
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
    # achieved throughput is the counted FLOPs over the median time; the profile split is a share
    torch_ratio = table.train_gflop / table.train_step_s
    assert (table.train_gflops - torch_ratio).abs().max() < 1e-9
    assert table.train_matmul_conv_share.between(0, 1, inclusive="neither").all()
    assert len(profiles) == 3
    ops = profiles[1]
    assert {"aten::convolution_backward", "aten::grid_sampler_2d"} <= set(ops.op)
    assert ops.set_index("op").loc["aten::convolution_backward", "matmul_conv"]
    assert not ops.set_index("op").loc["aten::grid_sampler_2d", "matmul_conv"]
    assert (ops.self_s.diff().dropna() <= 0).all()  # largest first
    run.plot_split(table, tmp_path / "split.png")
    assert (tmp_path / "split.png").stat().st_size > 0


def test_matmul_conv_classification_and_peak():
    run = load_benchmark("run")
    for op in ("aten::mm", "aten::bmm", "aten::baddbmm", "aten::baddbmm_", "aten::addmm", "aten::addmm_",
               "aten::mkldnn_convolution",
               "aten::convolution_backward", "aten::einsum", "volta_sgemm_128x64_nn"):
        assert run.is_matmul_or_conv(op), op
    for op in ("aten::cat", "aten::mul", "aten::grid_sampler_2d_backward", "aten::addcmul",
               "aten::upsample_bilinear2d", "aten::commit", "aten::_softmax", "aten::add_",
               "void at::native::vectorized_elementwise_kernel"):
        assert not run.is_matmul_or_conv(op), op
    assert run.matmul_peak(run.torch.device("cpu"), size=128, repeats=2) > 0


def test_a_run_where_every_variant_fails_says_so_and_writes_nothing(tmp_path, monkeypatch, capsys):
    run = load_benchmark("run")

    def fail(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(run, "measure_variant", fail)
    monkeypatch.setattr(run, "matmul_peak", lambda device: 100.0)
    with pytest.raises(SystemExit, match="every variant failed"):
        run.main(["--quick", "--variants", "baseline", "--no-loader", "--out", str(tmp_path / "out")])
    assert "out of memory (simulated)" in capsys.readouterr().out
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_in_place_products_are_counted_like_their_out_of_place_twins():
    """The point heads accumulate with baddbmm_, which torch's FLOP counter alone skips."""
    run = load_benchmark("run")
    torch = run.torch
    a, b, c = torch.randn(2, 64, 32), torch.randn(2, 32, 16), torch.zeros(2, 64, 16)
    expected = 2 * 2 * 64 * 32 * 16 / 1e9  # 2 FLOP per multiply-add, hand-computed
    assert run._flops(lambda: torch.baddbmm(c, a, b)) == expected
    assert run._flops(lambda: c.clone().baddbmm_(a, b)) == expected
    assert run._flops(lambda: c[0].clone().addmm_(a[0], b[0])) == expected / 2
