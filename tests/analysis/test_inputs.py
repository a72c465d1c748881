"""The analysis reads from disk in morse.analysis.inputs only: what it picks and how it fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_results import make_results, run_files

from morse.analysis.inputs.report import read_report_inputs
from morse.analysis.inputs.runs import read_qualitative_samples, read_runs
from morse.analysis.inputs.tables import DEFAULT_REFERENCE_RESULTS, read_boundaries


def _run(root: Path, dataset: str, variant: str, seed: int) -> Path:
    run = root / dataset / "unet" / variant / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"dataset": dataset, "backbone": "unet",
                                              "variant": variant, "seed": seed}))  # fmt: skip
    np.savez(run / "qualitative.npz", label=np.full((2, 2), seed))
    return run / "run.json"


def test_qualitative_samples_are_each_variants_lowest_seed(tmp_path: Path) -> None:
    paths = [_run(tmp_path, d, v, s) for d, v, s in
             [("b", "morse", 2), ("b", "morse", 1), ("a", "baseline", 3), ("a", "morse", 0)]]  # fmt: skip
    samples = read_qualitative_samples(read_runs(paths))
    assert list(samples) == [("a", "unet"), ("b", "unet")]
    assert list(samples[("a", "unet")]) == ["morse", "baseline"]  # lowest seed first
    assert {k: {v: int(a["label"][0, 0]) for v, a in s.items()} for k, s in samples.items()} == {
        ("a", "unet"): {"morse": 0, "baseline": 3}, ("b", "unet"): {"morse": 1}}


def test_boundaries_skip_empty_files_and_name_a_missing_run(tmp_path: Path) -> None:
    rows = pd.DataFrame({"dataset": ["d"], "distance_mm": [0.5], "n_voxels": [4], "n_errors": [1]})
    (tmp_path / "a").mkdir()
    rows.to_csv(tmp_path / "a" / "boundary.csv", index=False)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "boundary.csv").write_text("\n")  # a run without boundary rows
    pd.testing.assert_frame_equal(read_boundaries([tmp_path / "a" / "boundary.csv",
                                                   tmp_path / "b" / "boundary.csv"]), rows)  # fmt: skip
    with pytest.raises(FileNotFoundError, match=f"run {tmp_path / 'c'}: boundary.csv is missing"):
        read_boundaries([tmp_path / "a" / "boundary.csv", tmp_path / "c" / "boundary.csv"])


def test_the_report_reads_everything_in_one_call(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results", extras=True)
    runs, pretrain = run_files(root)
    read = read_report_inputs(root, runs, pretrain)
    assert [r.variant for r in read.runs] == ["baseline", "morse", "morse-num_points-512"]
    assert [r.variant for r in read.pretrain] == ["pretrain"]
    assert read.refinement is None and set(read.training_logs["variant"]) == {r.variant for r in read.runs}
    assert [p.name for p in read.paths] == ["metrics.csv", "summary.csv", "comparisons.csv",
                                            "empty_counts.csv", DEFAULT_REFERENCE_RESULTS.name,
                                            "boundary.csv", "backbone_adequacy.csv", "head_adequacy.csv",
                                            "budget_comparisons.csv", "budget_trends.csv",
                                            "verdicts.csv", "rank_stability.csv"]  # fmt: skip
    assert read.validation_logs.empty  # no run has a val_log.csv
    (runs[1].parent / "train_log.csv").unlink()
    with pytest.raises(FileNotFoundError, match="run synapse/unet/morse/seed0: .*train_log.csv is missing"):
        read_report_inputs(root, runs, pretrain)
