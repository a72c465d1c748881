"""benchmarks/head_budget.py: candidates merge as documented, and the tuning split takes its
validation cases from the training cases while leaving the test split exactly as configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_scripts import load_benchmark

from morse.data.prepared.format import read_dataset_info


def _config() -> dict:
    return {
        "experiment": "t", "protocol": "two_stage",
        "datasets": {
            "p2": {"kind": "phantom2d", "phantom": {"n_cases": 10, "n_slices": 2, "size": 32, "seed": 1},
                   "split": {"test_fraction": 0.3, "seed": 0}, "backbones": ["unet"]},
            "p3": {"kind": "phantom3d", "backbones": ["unetr"], "train": {"iterations": 7}},
        },
        "backbones": {"unet": {}, "unetr": {"size": "small", "img_size": 32}},
        "variants": {"baseline": {}, "pointrend": {}, "morse": {}},
        "train": {"iterations": 5, "lr": 0.01},
    }


def test_candidates_merge_one_level_and_replace_the_variants() -> None:
    budget = load_benchmark("head_budget")
    merged = budget._merge(_config(), {"train": {"iterations": 50}, "method": {"point_loss_schedule": "constant"},
                                       "variants": {"baseline": {}, "morse": {}}}, "p2")
    assert merged["train"] == {"iterations": 50, "lr": 0.01}  # merged, lr kept
    assert merged["method"] == {"point_loss_schedule": "constant"}
    assert list(merged["variants"]) == ["baseline", "morse"]  # replaced, pointrend gone
    assert list(merged["datasets"]) == ["p2"] and list(merged["backbones"]) == ["unet"]
    three = budget._merge(_config(), {"datasets_train": {"iterations": 9}}, "p3")
    assert three["datasets"]["p3"]["train"] == {"iterations": 9}  # the dataset's own override


def test_tuning_split_moves_training_cases_to_val_and_keeps_the_test_split(tmp_path: Path) -> None:
    budget = load_benchmark("head_budget")
    prepared = budget.tuning_dataset(_config(), "p2", 2, tmp_path)
    reference = read_dataset_info(tmp_path / "data" / "reference")
    tuning = read_dataset_info(prepared)
    assert tuning.splits["test"] == reference.splits["test"] and len(reference.splits["test"]) == 3
    assert len(tuning.splits["val"]) == 2 and set(tuning.splits["val"]) <= set(reference.splits["train"])
    assert sorted(tuning.splits["train"] + tuning.splits["val"]) == sorted(reference.splits["train"])
    # a config whose split would move test cases is refused, and its prepared copy removed
    budget.shutil.rmtree(prepared)
    config = _config()
    config["datasets"]["p2"]["split"]["seed"] = 5  # the reference stays the seed-0 one on disk
    with pytest.raises(SystemExit, match="test cases differ"):
        budget.tuning_dataset(config, "p2", 2, tmp_path)
    assert not prepared.exists()
