"""What each workflow step reads of the config (the rules' parameters)."""

from __future__ import annotations

from pathlib import Path

from morse.config import (
    evaluation_settings,
    load_schema,
    local_source_problem,
    prepare_entry,
    source_entry,
)
from morse.config.stages import EVALUATE_KEYS, PREPARE_KEYS, RUN_KEYS, SOURCE_KEYS


def test_every_dataset_key_belongs_to_exactly_one_step() -> None:
    """A key added to the schema must be placed (in morse/config/stages.py): otherwise no data
    step would see it, or an edit of it would go unnoticed."""
    keys = load_schema()["properties"]["datasets"]["additionalProperties"]["properties"]
    placed = [*SOURCE_KEYS, *PREPARE_KEYS, *RUN_KEYS, *EVALUATE_KEYS]
    assert len(placed) == len(set(placed))
    assert set(placed) == set(keys)


def test_the_data_steps_get_only_their_keys() -> None:
    entry = {"kind": "msd", "task": "Task02_Heart", "url": "https://example.org/t.tar", "split": {"seed": 1},
             "intensity": {"mode": "none"}, "variants": ["baseline"], "train": {"log_every": 2},
             "evaluate": {"nsd_tolerance_mm": 2.0}, "backbones": ["unet"]}
    assert source_entry(entry) == {"kind": "msd", "task": "Task02_Heart", "url": "https://example.org/t.tar"}
    assert prepare_entry(entry) == {**source_entry(entry), "split": {"seed": 1}, "intensity": {"mode": "none"}}


def test_evaluation_settings_are_the_datasets_own_over_the_top_level(tiny: dict) -> None:
    tiny["evaluate"] = {"slice_batch": 8}
    tiny["datasets"]["phantom2d"]["evaluate"] = {"nsd_tolerance_mm": 1.5}
    tiny["datasets"]["other"] = {"kind": "phantom2d"}
    assert evaluation_settings(tiny, "phantom2d") == {"slice_batch": 8, "nsd_tolerance_mm": 1.5}
    assert evaluation_settings(tiny, "other") == {"slice_batch": 8}


def test_a_missing_local_folder_is_named_with_the_key(tmp_path: Path) -> None:
    config = {"datasets": {"mine": {"kind": "nnunet", "source": "local", "path": str(tmp_path / "gone")},
                           "phantom2d": {"kind": "phantom2d"}}}
    problem = local_source_problem(config)
    assert problem is not None and problem.startswith("config key 'datasets.mine.path': the local data folder")
    assert "mount it or fix `path`" in problem and "data/prepared/mine and the runs are left as they are" in problem
    assert "does not exist or is not a folder" in problem
    (tmp_path / "gone").mkdir()  # an empty mount point: still nothing to read
    empty = local_source_problem(config)
    assert empty is not None and "holds no file (an unmounted drive?)" in empty
    (tmp_path / "gone" / "sub").mkdir()  # folders alone are not files either
    assert "holds no file" in str(local_source_problem(config))
    (tmp_path / "gone" / "sub" / "case.nii.gz").write_bytes(b"x")
    assert local_source_problem(config) is None
