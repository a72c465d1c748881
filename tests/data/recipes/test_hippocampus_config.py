"""``config/hippocampus.yaml``, the real-data experiment for a laptop: what it downloads, the plan
it runs, and its dataset entry prepared from the real MSD copy in ``shared/data``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from real_layouts import shared_data
from workflow_runner import make_workdir, run_snakemake

from morse.config import load_config
from morse.data.prepared.format import load_case, read_dataset_info
from morse.data.recipes.registry import fetch_dataset, prepare_dataset
from morse.data.sources.decathlon_tasks import decathlon_task
from morse.evaluation.convergence import MIN_ROWS, validation_plateau

CONFIG = Path(__file__).resolve().parents[3] / "config" / "hippocampus.yaml"


def test_downloads_task04_with_monais_md5() -> None:
    entry = load_config(CONFIG)["datasets"]["hippocampus"]
    assert (entry["kind"], entry["task"], entry["source"]) == ("msd", "Task04_Hippocampus", "download")
    task = decathlon_task(entry["task"])
    assert task.checksum == "md5:9d24dba78a72977dbd1d2e110310f31b"  # docs/datasets.md's table
    assert task.url.endswith("/Task04_Hippocampus.tar")


def test_validation_rows_suffice_for_the_plateau_in_both_stages() -> None:
    """Rows every validate_every and at the last iteration (the training loop's schedule): the
    plateau criterion needs MIN_ROWS of them in each stage's last fifth, or it is undetermined."""
    train = load_config(CONFIG)["train"]
    every = train["validate_every"]
    for stage, iterations in (("pretrain", train["pretrain_iterations"]), ("joint", train["iterations"])):
        rows = [*range(every, iterations, every), iterations]
        rising = validation_plateau(rows, [0.5 + 0.3 * r / iterations for r in rows], iterations)
        assert rising["n_rows"] >= MIN_ROWS and rising["converged"] is False, stage  # judged, still rising
    assert MIN_ROWS == 8 and (train["iterations"], every) == (600, 15)  # 495, 510, ..., 600: 8 rows


def test_plan_is_one_pretraining_and_four_variants_per_seed(tmp_path: Path) -> None:
    seeds = yaml.safe_load(CONFIG.read_text())["seeds"]
    result = run_snakemake(make_workdir(tmp_path), "-n", "--configfile", str(CONFIG), timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert (counts["fetch"], counts["prepare"]) == (1, 1)
    assert counts["pretrain"] == len(seeds) and counts["train"] == counts["evaluate"] == 4 * len(seeds)
    assert not (tmp_path / "data").exists()  # a dry run downloads nothing


def test_local_variant_prepares_the_real_task(tmp_path: Path) -> None:
    root = shared_data("Task04_Hippocampus")
    entry = {**load_config(CONFIG)["datasets"]["hippocampus"], "source": "local", "path": str(root)}
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    fetch_dataset("hippocampus", entry, raw)
    prepare_dataset("hippocampus", entry, raw, out)
    info = read_dataset_info(out)
    assert info.class_names == ["background", "Anterior", "Posterior"] and info.spatial_dims == 2
    assert {s: len(c) for s, c in info.splits.items()} == {"train": 198, "val": 10, "test": 52}
    assert len(set(info.cases)) == 260
    assert info.preparation["slice_axis"] == "z"
    assert all(s == [1.0, 1.0, 1.0] for s in info.spacing.values())
    image, label = load_case(out, info.splits["test"][0])
    assert image.shape[1:] == label.shape and 24 <= label.shape[0] <= 47  # z: 24-47 voxels
    assert 40 <= label.shape[1] <= 59 and 31 <= label.shape[2] <= 43    # slices about 50 x 35
    assert set(np.unique(label).tolist()) == {0, 1, 2}
