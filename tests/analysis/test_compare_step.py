"""``morse-bench compare``: the paired statistics and the regime, written together, or nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fake_regime import add_validation, series
from fake_results import make_results, run_files

from morse.analysis.compare import OUTPUTS
from morse.cli import main


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    runs, pretrain = run_files(root)
    return ["compare", "--metrics", str(root / "metrics.csv"), "--out", str(out), "--resamples", "500",
            "--runs", *map(str, runs), "--pretrain-runs", *map(str, pretrain), *extra]  # fmt: skip


def test_compare_writes_comparisons_with_their_regime_and_the_four_tables(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results", extras=True)  # synapse: the authors' UNet, 76.16
    add_validation(root / "synapse" / "unet" / "pretrain" / "seed0", series("rising"), 300, stage="pretrain")
    out = tmp_path / "out" / "comparisons.csv"
    out.parent.mkdir()
    assert main(_args(root, out)) == 0
    comparisons = pd.read_csv(out)
    assert {"adequacy", "budget_trend"} <= set(comparisons.columns) and len(comparisons) > 0
    assert set(comparisons["adequacy"]) == {"backbone under-trained"}  # pretraining still rising
    assert set(comparisons["budget_trend"]) == {"not available"}  # no --budget
    backbone = pd.read_csv(out.with_name("backbone_adequacy.csv")).iloc[0]
    assert backbone["reference_dice"] == pytest.approx(0.7616) and not backbone["val_converged"]
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(["comparisons.csv", *OUTPUTS])


def test_a_bad_fraction_writes_nothing(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results")
    out = tmp_path / "out" / "comparisons.csv"
    out.parent.mkdir()
    assert main(_args(root, out, "--min-reference-fraction", "0")) == 1
    assert list(out.parent.iterdir()) == []
