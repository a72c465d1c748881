"""Change one setting of a finished run, redo exactly what it touches: the jobs ``snakemake -n``
plans after each kind of edit, a deleted run file made again, the default profile in plain
commands, and a missing local data folder refused before anything is touched (slow)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_runner import ROOT, TINY_CONFIG, make_workdir, run_snakemake

from morse.config import resolved_device

TINY = TINY_CONFIG.read_text()
# the report and the index of reports redraw after any edit (the report shows the resolved config)
REPORT_ONLY = {"report": 1, "index": 1, "all": 1}
# after any evaluation: the tables, the snapshots' table, the verdicts, the report
DOWNSTREAM = {"aggregate": 1, "aggregate_budget": 1, "compare": 1, "verdicts": 1, **REPORT_ONLY}
MORSE_RUN = "results/tiny/phantom2d/unet/morse/seed0"


def planned_jobs(workdir: Path, config: str = TINY, *targets: str) -> dict[str, int]:
    """rule -> number of jobs ``snakemake -n`` plans in ``workdir`` with this config text."""
    path = workdir / "config" / "edited.yaml"
    path.write_text(config)
    result = run_snakemake(workdir, "-n", *targets, "--configfile", str(path))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def _after_split(extra: str) -> Callable[[str], str]:
    """An edit adding ``extra`` to the phantom2d entry (after its split line)."""
    line = "    split: {test_fraction: 0.5, seed: 0}\n"
    return lambda text: text.replace(line, line + f"    {extra}\n")


def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)
    return edit


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny experiment run to the end once, and Snakemake's console output of that run."""
    workdir = make_workdir(tmp_path_factory.mktemp("rerun") / "workflow")
    result = run_snakemake(workdir, "--configfile", str(TINY_CONFIG))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, result.stdout + result.stderr


def _copy(finished: tuple[Path, str], tmp_path: Path) -> Path:
    """A private copy of the finished run (files, times and Snakemake's records), to change."""
    copy = tmp_path / "workflow"
    shutil.copytree(finished[0], copy, symlinks=True)
    assert planned_jobs(copy) == {}
    return copy


TRAIN_ALL = {"pretrain": 1, "train": 2, "evaluate": 2, "evaluate_budget": 2, **DOWNSTREAM}
# one setting of each kind -> the jobs it reruns (docs/configuration.md, "What a change reruns")
EDITS: dict[str, tuple[Callable[[str], str], dict[str, int]]] = {
    "nothing": (lambda text: text, {}),
    "evaluation tolerance of the dataset": (_after_split("evaluate: {nsd_tolerance_mm: 1.5}"),
                                            {"evaluate": 2, "evaluate_budget": 2, **DOWNSTREAM}),
    "top-level evaluation setting": (lambda text: text + "evaluate: {slice_batch: 8}\n",
                                     {"evaluate": 2, "evaluate_budget": 2, **DOWNSTREAM}),
    # the report shows the resolved config, so any edit redraws it, and nothing else
    "dataset variants list that changes nothing": (_after_split("variants: [baseline, morse]"),
                                                   REPORT_ONLY),
    "logging interval under the dataset": (_after_split("train: {log_every: 2}"), REPORT_ONLY),
    "head knob of one variant": (_replace("expert_width: 8", "expert_width: 4"),
                                 {"train": 1, "evaluate": 1, "evaluate_budget": 1, **DOWNSTREAM}),
    "pretraining length": (_replace("pretrain_iterations: 3", "pretrain_iterations: 2"), TRAIN_ALL),
    "learning rate": (lambda text: text.replace("  batch_size: 2\n", "  batch_size: 2\n  lr: 0.02\n"), TRAIN_ALL),
    "top-level logging and checkpoint intervals": (_replace("checkpoint_every: 2\n  log_every: 1",
                                                            "checkpoint_every: 3\n  log_every: 2"), REPORT_ONLY),
    "intensity window (prepare)": (_after_split("intensity: {mode: window, window: [-100, 250]}"),
                                   {"prepare": 1, **TRAIN_ALL}),
    "split (prepare)": (_replace("test_fraction: 0.5, seed: 0", "test_fraction: 0.5, seed: 1"),
                        {"prepare": 1, **TRAIN_ALL}),
    "phantom generator (fetch)": (_replace("seed: 7}", "seed: 8}"), {"fetch": 1, "prepare": 1, **TRAIN_ALL}),
}


@pytest.mark.slow
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_one_setting_reruns_exactly_what_depends_on_it(edit: str, finished: tuple[Path, str]) -> None:
    change, expected = EDITS[edit]
    assert planned_jobs(finished[0], change(TINY)) == expected


@pytest.mark.slow
@pytest.mark.skipif(resolved_device("auto") == "cuda", reason="auto resolves to cuda on this machine")
def test_auto_device_resolving_to_the_same_device_retrains_nothing(finished: tuple[Path, str]) -> None:
    assert planned_jobs(finished[0], TINY.replace("device: cpu", "device: auto")) == REPORT_ONLY


@pytest.mark.slow
def test_a_deleted_run_file_is_made_again_with_what_follows(finished: tuple[Path, str]) -> None:
    workdir = finished[0]
    run = workdir / MORSE_RUN
    aside = workdir / "aside"
    (run / "metrics.csv").rename(aside)
    try:
        without_budget = {k: v for k, v in DOWNSTREAM.items() if k != "aggregate_budget"}
        assert planned_jobs(workdir) == {"evaluate": 1, **without_budget}
    finally:
        aside.rename(run / "metrics.csv")
    run.rename(aside)  # the whole run folder: retrained from its pretraining run, nothing else
    try:
        assert planned_jobs(workdir) == {"train": 1, "evaluate": 1, "evaluate_budget": 1, **DOWNSTREAM}
    finally:
        aside.rename(run)
    assert planned_jobs(workdir) == {}


@pytest.mark.slow
def test_an_evaluation_setting_reaches_the_metrics(finished: tuple[Path, str], tmp_path: Path) -> None:
    """The dataset's evaluate block is what evaluation uses now (not the one run.json recorded at
    training), and a metrics.csv deleted by hand is recomputed before the tables."""
    workdir = _copy(finished, tmp_path)
    models = {p: p.read_bytes() for p in (workdir / "results").rglob("model.pt")}
    (workdir / "results/tiny/phantom2d/unet/baseline/seed0/metrics.csv").unlink()
    config = workdir / "config" / "tolerance.yaml"
    config.write_text(_after_split("evaluate: {nsd_tolerance_mm: 1.5}")(TINY))
    result = run_snakemake(workdir, "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = pd.read_csv(workdir / "results" / "tiny" / "metrics.csv")
    assert set(metrics["variant"]) == {"baseline", "morse"}
    assert (metrics["nsd_tolerance_mm"] == 1.5).all()
    ran = re.findall(r"^(?:local)?rule (\w+):$", result.stdout + result.stderr, re.MULTILINE)
    expected = {"evaluate": 2, "evaluate_budget": 2, **DOWNSTREAM}
    assert sorted(ran) == sorted(rule for rule, n in expected.items() for _ in range(n))
    assert {p: p.read_bytes() for p in models} == models  # nothing retrained


@pytest.mark.slow
def test_the_default_profile_applies_to_plain_commands(finished: tuple[Path, str], tmp_path: Path) -> None:
    profile = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert profile["rerun-incomplete"] and profile["printshellcmds"] and profile["resources"] == ["gpu=1"]
    # the finished run was a plain `snakemake --cores 2 --configfile ...`: the profile was loaded
    output = finished[1]
    assert re.search(r"Using workflow specific profile \S*profiles/default", output)
    assert re.search(r"Provided resources: .*\bgpu\b\D*1\b", output)  # the cap the scheduler applies
    # a plain dry run of a CUDA config: shell commands shown (printshellcmds), and every job
    # that uses the GPU declares the resource the profile caps
    workdir = make_workdir(tmp_path / "cuda")
    config = workdir / "config" / "cuda.yaml"
    config.write_text(TINY.replace("device: cpu", "device: cuda"))
    result = run_snakemake(workdir, "-n", "--configfile", str(config), cores=None)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "Shell command: morse-bench train" in out
    blocks = {block.split(":", 1)[0]: block for block in out.split("\nrule ")[1:]}
    for rule in ("pretrain", "train", "evaluate", "evaluate_budget"):
        assert re.search(r"resources: .*\bgpu=1\b", blocks[rule]), rule
    for rule in ("fetch", "prepare", "aggregate", "compare", "report"):
        assert not re.search(r"\bgpu=1\b", blocks[rule]), rule


def _image_folders(root: Path, cases: int = 4) -> Path:
    """Grey 32 x 32 images with a square vessel mask each (``images2d``'s default layout)."""
    from PIL import Image

    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for i in range(cases):
        image = np.full((32, 32), 40 * i, np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 8 + i:20 + i] = 255
        Image.fromarray(image, "L").save(root / "images" / f"eye{i:02d}.png")
        Image.fromarray(mask, "L").save(root / "masks" / f"eye{i:02d}_mask.png")
    return root


@pytest.mark.slow
def test_a_missing_local_folder_stops_before_the_prepared_data_is_touched(tmp_path: Path) -> None:
    folder = _image_folders(tmp_path / "drive" / "eyes")
    workdir = make_workdir(tmp_path / "workflow")
    config = workdir / "config" / "local.yaml"
    config.write_text(yaml.safe_dump({
        "experiment": "local", "device": "cpu",
        "datasets": {"eyes": {"kind": "images2d", "source": "local", "path": str(folder),
                              "classes": {0: "background", 255: "vessel"}, "split": {"test_fraction": 0.5}}},
        "backbones": {"unet": {}}, "variants": {"baseline": {}}, "seeds": [0],
        "train": {"iterations": 1, "patch_size": [32, 32]},
    }))
    prepared = workdir / "data" / "prepared" / "eyes"
    result = run_snakemake(workdir, str(prepared.relative_to(workdir)), "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in prepared.rglob("*") if p.is_file()}

    folder.rename(tmp_path / "drive" / "unmounted")  # the drive is gone for a while
    result = run_snakemake(workdir, "--configfile", str(config))
    assert result.returncode != 0
    assert (f"config key 'datasets.eyes.path': the local data folder {folder} does not exist"
            in result.stdout + result.stderr)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in prepared.rglob("*") if p.is_file()} == before

    (tmp_path / "drive" / "unmounted").rename(folder)  # back: nothing to re-prepare
    target = str(prepared.relative_to(workdir))
    assert planned_jobs(workdir, config.read_text(), target) == {}
    mask = folder / "masks" / "eye03_mask.png"  # a file edited there: fetched (a marker) and prepared again
    mask.write_bytes(mask.read_bytes() + b"\0")
    assert planned_jobs(workdir, config.read_text(), target) == {"fetch": 1, "prepare": 1}
