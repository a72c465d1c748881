"""Bad-input matrix: every failure names its cause, and nothing earlier is lost or half-written."""

from __future__ import annotations

import ast
import errno
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from training_runs import assert_same_weights, kill_after_checkpoint, make_run
from workflow_runner import ROOT

from morse import cli
from morse.data.errors import DataError
from morse.data.loading.patches3d import PatchDataset
from morse.data.loading.sampling import EpochShuffleSampler
from morse.data.loading.slices2d import SliceDataset
from morse.data.prepared.format import read_dataset_info
from morse.engine import checkpoint as checkpoint_module
from morse.engine import train as train_module
from morse.engine.checkpoint import (
    CheckpointMismatchError,
    DiskFullError,
    load_checkpoint,
    save_checkpoint,
)
from morse.engine.evaluate import evaluate_run
from morse.engine.train import NonFiniteLossError, loader_seed, train_run


def _no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".old-"))]


# --- disk full while writing a checkpoint ---------------------------------------------------


def _disk_full_on_call(monkeypatch: pytest.MonkeyPatch, failing_call: int) -> None:
    """torch.save writes part of the file, then fails with ENOSPC, from its ``failing_call``-th use
    on (counting the checkpoint and model writes, not the snapshots between them)."""
    real_save = torch.save
    calls = {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += Path(f).parent.name != "snapshots"
        if calls["n"] >= failing_call:
            Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", save)


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(
    tiny_prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run("baseline", iterations=6, checkpoint_every=2)
    out = tmp_path / "run"
    _disk_full_on_call(monkeypatch, failing_call=2)  # checkpoint of iteration 4
    checkpoint = out / "checkpoint.pt"
    with pytest.raises(DiskFullError, match=rf"disk is full.*{re.escape(str(checkpoint))}|"
                                            rf"{re.escape(str(checkpoint))}.*disk is full"):
        train_run(run, tiny_prepared, out, progress=False)
    monkeypatch.undo()
    assert load_checkpoint(checkpoint, run["config_hash"])["iteration"] == 2  # intact, loadable
    _no_temporaries(out)
    assert not (out / "model.pt").exists()

    # once space is free again, the same command resumes and ends as if nothing happened
    assert train_run(run, tiny_prepared, out, progress=False)["resumed_from_iteration"] == 2
    train_run(run, tiny_prepared, tmp_path / "straight", progress=False)
    assert_same_weights(tmp_path / "straight" / "model.pt", out / "model.pt")


def test_disk_full_keeps_an_existing_model_and_reports_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}})
    _disk_full_on_call(monkeypatch, failing_call=1)
    with pytest.raises(DiskFullError, match="disk is full") as error:
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}})
    assert error.value.errno == errno.ENOSPC and str(path) in str(error.value)
    assert "previous one is kept" in str(error.value)
    assert torch.equal(torch.load(path, weights_only=True)["model"]["w"], torch.ones(3))
    _no_temporaries(tmp_path)

    # morse-bench turns it into a one-line error (exit status 1), not a traceback
    monkeypatch.setattr(train_module, "train_run", lambda *a, **k: save_checkpoint(path, {}))
    assert cli.main(["train", "--run-config", "{}", "--data", str(tmp_path), "--out-dir", str(tmp_path)]) == 1
    assert "disk is full" in capsys.readouterr().err


def test_torch_zip_writer_failure_on_a_full_disk_is_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_save(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed "
                           "writing file data/0: file write failed")

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    free = {"bytes": 0}
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage",
                        lambda p: type("Usage", (), {"free": free["bytes"]})())
    with pytest.raises(DiskFullError, match="disk is full"):
        save_checkpoint(tmp_path / "checkpoint.pt", {})
    free["bytes"] = 10**9  # space left: not a full disk, the original error goes through
    with pytest.raises(RuntimeError, match="file write failed") as error:
        save_checkpoint(tmp_path / "checkpoint.pt", {})
    assert not isinstance(error.value, DiskFullError)
    _no_temporaries(tmp_path)


def test_a_killed_run_leaves_no_stale_temporaries_after_the_rerun(tiny_prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".tmp-0123456789ab-checkpoint.pt").write_bytes(b"half")  # SIGKILL during a save
    train_run(make_run("baseline", iterations=1), tiny_prepared, out, progress=False)
    _no_temporaries(out)


# --- checkpoint from another config -----------------------------------------------------------


def test_checkpoint_of_another_config_is_refused_and_left_alone(
    tiny_prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run("baseline", iterations=4, checkpoint_every=2)
    kill_after_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train_run(run, tiny_prepared, tmp_path, progress=False)
    monkeypatch.undo()
    before = (tmp_path / "checkpoint.pt").read_bytes()

    other = make_run("baseline", iterations=4, checkpoint_every=2, lr=0.02)
    with pytest.raises(CheckpointMismatchError, match=rf"{re.escape(str(tmp_path / 'checkpoint.pt'))}.*"
                                                      rf"config hash.*{other['config_hash']}"):
        train_run(other, tiny_prepared, tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert not (tmp_path / "model.pt").exists()
    assert train_run(run, tiny_prepared, tmp_path, progress=False)["resumed_from_iteration"] == 2


# --- torch.load only with weights_only=True ---------------------------------------------------


def test_every_torch_load_passes_weights_only_true() -> None:
    offenders, seen = [], 0
    for folder in ("morse", "baselines"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "load" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "torch"):
                    continue
                seen += 1
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                if not safe:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert seen >= 1  # the checkpoint loader at least
    assert not offenders, f"torch.load without weights_only=True: {offenders}"


# --- NaN / Inf in input images ----------------------------------------------------------------


def test_nan_in_an_input_image_stops_training_naming_run_and_case(prepared_copy: Path, tmp_path: Path) -> None:
    run = make_run("baseline", iterations=8, checkpoint_every=1, log_every=1)
    batch = run["train"]["batch_size"]
    info = read_dataset_info(prepared_copy)
    ds = SliceDataset(prepared_copy, info.splits["train"], (32, 32), augment="none")
    first_seen: dict[int, int] = {}
    samples = itertools.islice(iter(EpochShuffleSampler(len(ds), loader_seed(run))), batch * 8)
    for position, (index, _) in enumerate(samples):
        first_seen.setdefault(index, position)
    index, position = max(first_seen.items(), key=lambda item: item[1])  # the slice seen last
    bad_iteration = position // batch
    assert bad_iteration >= 1  # so that a good checkpoint exists before it
    ci, z = ds._items[index]
    case = ds.cases[ci]
    image_path = prepared_copy / "images" / f"{case}.npy"
    image = np.load(image_path)
    image[:, z, 3, 3] = np.nan
    np.save(image_path, image)

    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as error:
        train_run(run, prepared_copy, out, progress=False)
    message = str(error.value)
    assert "phantom/unet/baseline/seed0" in message and f"iteration {bad_iteration}" in message
    assert f"case {case!r} slice {z}" in message and "NaN" in message
    assert load_checkpoint(out / "checkpoint.pt", run["config_hash"])["iteration"] == bad_iteration
    assert not (out / "model.pt").exists()
    _no_temporaries(out)


# --- empty test split -------------------------------------------------------------------------


def test_empty_test_split_is_an_evaluation_error(
    prepared_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    train_run(make_run("baseline", iterations=1), prepared_copy, out, progress=False)
    (out / "metrics.csv").write_text("earlier,result\n1,2\n")
    meta = prepared_copy / "dataset.json"
    info = json.loads(meta.read_text())
    info["splits"]["test"] = []
    meta.write_text(json.dumps(info))

    with pytest.raises(ValueError, match="empty test split"):
        evaluate_run(out, prepared_copy, progress=False)
    assert cli.main(["evaluate", "--run-dir", str(out), "--data", str(prepared_copy), "--no-progress"]) == 1
    assert "empty test split" in capsys.readouterr().err
    assert (out / "metrics.csv").read_text() == "earlier,result\n1,2\n"  # nothing lost
    assert not (out / "qualitative.npz").exists()
    _no_temporaries(out)


# --- labels outside the class map -------------------------------------------------------------


def _corrupt_label(prepared: Path) -> tuple[str, int]:
    info = read_dataset_info(prepared)
    case = info.splits["train"][1]
    path = prepared / "labels" / f"{case}.npy"
    label = np.load(path)
    label[0, 0, 0] = len(info.class_names)  # one past the last class
    np.save(path, label)
    return case, len(info.class_names)


def test_label_outside_the_class_map_is_refused_naming_the_case(prepared_copy: Path, tmp_path: Path) -> None:
    case, num_classes = _corrupt_label(prepared_copy)
    cases = read_dataset_info(prepared_copy).splits["train"]
    with pytest.raises(DataError, match=rf"case '{case}'.*outside the class map"):
        SliceDataset(prepared_copy, cases, (32, 32), num_classes=num_classes)
    SliceDataset(prepared_copy, cases, (32, 32))  # without a class count: no check (as before)

    patches = PatchDataset(prepared_copy, [case], (2, 16, 16), num_classes=num_classes)
    with pytest.raises(DataError, match=rf"case '{case}'.*outside the class map"):
        patches[(0, 1)]

    out = tmp_path / "run"
    with pytest.raises(DataError, match=rf"case '{case}'"):
        train_run(make_run("baseline", iterations=2), prepared_copy, out, progress=False)
    assert not (out / "checkpoint.pt").exists() and not (out / "model.pt").exists()
