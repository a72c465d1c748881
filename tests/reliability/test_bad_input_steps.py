"""Bad input to one step, as a user types it: a one-line message naming the key or file and the
fix, no wrong answer with exit status 0, nothing half-written, nothing of a killed attempt left."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from training_runs import make_run
from workflow_runner import TINY_CONFIG

from morse import cli
from morse.engine.evaluate import OUTPUTS
from morse.engine.train import train_run


def _one_line(capsys: pytest.CaptureFixture, step: str, message: str) -> None:
    """stderr holds one error line (besides progress bars, which redraw with carriage returns)."""
    lines = [line for line in capsys.readouterr().err.split("\n") if line and not line.endswith("case/s]")]
    assert len(lines) == 1 and lines[0].startswith(f"morse-bench {step}: error: "), lines
    assert re.search(message, lines[0]), lines[0]


@pytest.fixture(scope="module")
def evaluated(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-iteration baseline run on the tiny phantom, evaluated."""
    out = tmp_path_factory.mktemp("steps") / "run"
    train_run(make_run("baseline", iterations=1), tiny_prepared, out, progress=False)
    assert cli.main(["evaluate", "--run-dir", str(out), "--data", str(tiny_prepared), "--no-progress"]) == 0
    return out


# --- evaluate ----------------------------------------------------------------------------------


def test_evaluate_removes_the_temporaries_of_its_killed_attempt(
    evaluated: Path, tiny_prepared: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    own = [run / f".tmp-0123456789ab-{name}" for name in OUTPUTS]  # SIGKILL while writing each
    others = [run / ".tmp-0123456789ab-model.pt.bak", run / ".tmp-xyz-qualitative.npz", run / "notes.txt"]
    for path in own + others:
        path.write_bytes(b"half")
    assert cli.main(["evaluate", "--run-dir", str(run), "--data", str(tiny_prepared), "--no-progress"]) == 0
    assert not any(path.exists() for path in own)
    assert all(path.read_bytes() == b"half" for path in others)
    assert (run / "metrics.csv").read_bytes() == (evaluated / "metrics.csv").read_bytes()


@pytest.mark.parametrize("missing", ["run.json", "model.pt"])
def test_evaluate_names_a_folder_that_is_not_a_trained_run(
    missing: str, evaluated: Path, tiny_prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    (run / missing).unlink()
    (run / "metrics.csv").unlink()
    assert cli.main(["evaluate", "--run-dir", str(run), "--data", str(tiny_prepared), "--no-progress"]) == 1
    _one_line(capsys, "evaluate", rf"{re.escape(str(run))} is not a trained run folder \({missing} is "
                                  r"missing\); give --run-dir results/<experiment>/.*seed<k> of a finished train step")
    assert not (run / "metrics.csv").exists()


def test_evaluate_names_a_raw_dataset_given_as_data(
    evaluated: Path, tiny_raw: Path, capsys: pytest.CaptureFixture
) -> None:
    before = (evaluated / "metrics.csv").read_bytes()
    assert cli.main(["evaluate", "--run-dir", str(evaluated), "--data", str(tiny_raw), "--no-progress"]) == 1
    _one_line(capsys, "evaluate", rf"{re.escape(str(tiny_raw))} is a raw dataset \(MSD layout.*\), not a prepared "
                                  r"one; give its prepared folder, data/prepared/<dataset>")
    assert (evaluated / "metrics.csv").read_bytes() == before


@pytest.mark.parametrize("step", ["train", "evaluate"])
def test_zero_threads_is_refused_before_any_folder_is_made(step: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = {"train": ["train", "--run-config", "{}", "--data", "d", "--out-dir", str(out)],
            "evaluate": ["evaluate", "--run-dir", str(out), "--data", "d"]}[step]
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--threads", "0"])
    assert exit_info.value.code == 2
    assert not out.exists()


def test_zero_threads_message(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--run-dir", "r", "--data", "d", "--threads", "0"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "argument --threads: 0 is not a positive number of threads; give 1 or more" in err


def test_train_refuses_a_seed_the_config_lacks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["train", "--config", str(TINY_CONFIG), "--dataset", "phantom2d", "--backbone", "unet",
            "--variant", "morse", "--seed", "5", "--data", "d", "--out-dir", str(tmp_path / "run")]
    assert cli.main(argv) == 1
    _one_line(capsys, "train", r"--seed 5 is not in .*tiny\.yaml \(0\); add it to the config or pick one of these")
    assert not (tmp_path / "run").exists()


# --- aggregate and compare ---------------------------------------------------------------------


def test_aggregate_refuses_a_file_given_twice(evaluated: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    metrics = evaluated / "metrics.csv"
    again = evaluated / ".." / evaluated.name / "metrics.csv"  # the same file, spelt otherwise
    out = tmp_path / "tables"
    assert cli.main(["aggregate", "--out-dir", str(out), str(metrics), str(again)]) == 1
    _one_line(capsys, "aggregate", rf"metrics file {re.escape(str(again))} is given twice \(also as "
                                   rf"{re.escape(str(metrics))}\); its rows would count twice")
    assert not out.exists()
    boundary = str(evaluated / "boundary.csv")
    assert cli.main(["aggregate", "--out-dir", str(out), str(metrics), "--boundary", boundary, boundary]) == 1
    _one_line(capsys, "aggregate", "boundary file .* is given twice")
    refinement = str(evaluated / "refinement.csv")
    assert cli.main(["aggregate", "--out-dir", str(out), str(metrics), "--refinement", refinement, refinement]) == 1
    _one_line(capsys, "aggregate", "refinement file .* is given twice")
    assert not out.exists()
    assert cli.main(["aggregate", "--out-dir", str(out), str(metrics)]) == 0
    assert len(pd.read_csv(out / "metrics.csv")) == len(pd.read_csv(metrics))


def test_aggregate_budget_refuses_a_file_given_twice(evaluated: Path, tiny_prepared: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    own = run / ".tmp-0123456789ab-budget_metrics.csv"  # a killed evaluate-budget's temporary
    own.write_bytes(b"half")
    assert cli.main(["evaluate-budget", "--run-dir", str(run), "--data", str(tiny_prepared), "--no-progress"]) == 0
    assert not own.exists()  # removed by the next attempt, as evaluate's are
    budget = run / "budget_metrics.csv"
    out = tmp_path / "budget.csv"
    capsys.readouterr()
    assert cli.main(["aggregate-budget", "--out", str(out), str(budget), str(run / ".." / "run" / budget.name)]) == 1
    _one_line(capsys, "aggregate-budget", r"budget metrics file .* is given twice \(also as .*\); its rows would "
                                          "count twice")  # fmt: skip
    assert not out.exists()


def test_compare_refuses_an_unknown_reference(evaluated: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tables = tmp_path / "tables"
    assert cli.main(["aggregate", "--out-dir", str(tables), str(evaluated / "metrics.csv")]) == 0
    capsys.readouterr()
    out = tmp_path / "comparisons.csv"
    argv = ["compare", "--metrics", str(tables / "metrics.csv"), "--out", str(out), "--resamples", "10"]
    assert cli.main([*argv, "--reference", "basline"]) == 1
    _one_line(capsys, "compare", r"--reference 'basline' is not a variant of .*metrics\.csv \(baseline\); "
                                 r"give one of these")
    assert not out.exists()


# --- prepare: image folders --------------------------------------------------------------------


def _image_folders(root: Path, fov_of_case1: np.ndarray | None = None, mask_mode: str = "L") -> dict:
    """Four 32 x 32 grey cases with a square vessel and a field of view (all inside), as an
    ``images2d`` entry; case eye01 may get another field of view, its mask another mode."""
    for folder in ("images", "masks", "fov"):
        (root / folder).mkdir(parents=True)
    for i in range(4):
        mask = np.zeros((32, 32), np.uint8)
        mask[10:20, 10:20] = 255
        fov = fov_of_case1 if i == 1 and fov_of_case1 is not None else np.full((32, 32), 255, np.uint8)
        Image.fromarray(np.full((32, 32), 50 * i, np.uint8), "L").save(root / "images" / f"eye{i:02d}.png")
        if i == 1 and mask_mode == "LA":
            Image.fromarray(np.stack([mask, np.full_like(mask, 255)], axis=-1), "LA").save(
                root / "masks" / f"eye{i:02d}_mask.png")
        else:
            Image.fromarray(mask, "L").save(root / "masks" / f"eye{i:02d}_mask.png")
        Image.fromarray(fov, "L").save(root / "fov" / f"eye{i:02d}_fov.png")
    return {"kind": "images2d", "source": "local", "path": str(root), "layout": {"fov": "fov/{case}_fov.png"},
            "classes": {"0": "background", "255": "vessel"}, "split": {"test_fraction": 0.5}}


def _prepare(entry: dict, tmp_path: Path) -> int:
    import json

    raw, out = tmp_path / "raw", tmp_path / "prepared"
    argv = ["--name", "eyes", "--dataset-config", json.dumps(entry), "--out"]
    assert cli.main(["fetch", *argv, str(raw)]) == 0
    return cli.main(["prepare", *argv, str(out), "--raw", str(raw)])


def test_a_field_of_view_that_leaves_out_every_label_is_an_error_at_prepare(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    outside = np.full((32, 32), 255, np.uint8)
    outside[8:22, 8:22] = 0  # the vessel square lies wholly outside the field of view
    entry = _image_folders(tmp_path / "eyes", fov_of_case1=outside)
    assert _prepare(entry, tmp_path) == 1
    _one_line(capsys, "prepare", r"case 'eye01': its field-of-view mask .*eye01_fov\.png leaves out all 100 "
                                 r"labelled pixels of .*eye01_mask\.png.*an inverted mask\?\) or `layout\.fov`")
    assert not (tmp_path / "prepared").exists()
    outside[12, 12] = 255  # one labelled pixel inside: scored, prepared
    Image.fromarray(outside, "L").save(tmp_path / "eyes" / "fov" / "eye01_fov.png")
    assert _prepare(entry, tmp_path) == 0


def test_a_grey_mask_with_an_opaque_alpha_channel_is_read_as_grey(tmp_path: Path) -> None:
    entry = _image_folders(tmp_path / "eyes", mask_mode="LA")
    assert _prepare(entry, tmp_path) == 0
    label = np.load(tmp_path / "prepared" / "labels" / "eye01.npy")
    assert int((label == 1).sum()) == 100 and set(np.unique(label)) == {0, 1}


def test_a_grey_mask_with_transparency_names_the_mode_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    entry = _image_folders(tmp_path / "eyes")
    mask = np.zeros((32, 32), np.uint8)
    Image.fromarray(np.stack([mask, mask], axis=-1), "LA").save(tmp_path / "eyes" / "masks" / "eye02_mask.png")
    assert _prepare(entry, tmp_path) == 1
    _one_line(capsys, "prepare", r"mask .*eye02_mask\.png is grey with a transparency \(alpha\) channel that "
                                 r"is not opaque everywhere; save masks with one grey channel and no alpha")
    assert not (tmp_path / "prepared").exists()
