"""Bad-input matrix: each case is refused with one line naming the cause and the fix,
before any job runs, and nothing that existed before is changed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from training_runs import make_run
from workflow_runner import TINY_CONFIG

from morse import cli
from morse.common import stale_temporaries
from morse.config import ConfigError, check_device, load_config
from morse.engine.train import train_run

TINY = TINY_CONFIG.read_text()


def _edit(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return edit


def _append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


SPLIT = "    split: {test_fraction: 0.5, seed: 0}\n"  # the last line of tiny.yaml's dataset entry

# case -> (edit of config/tiny.yaml, regex the one-line message must match)
CONFIG_CASES = {
    "second train block": (_append("train:\n  iterations: 2\n"),
                           r"tiny\.yaml:27: key 'train' is given twice \(lines 20 and 27\).*merge them"),
    "nested duplicate key": (_edit("  expert_width: 8\n", "  expert_width: 8\n  expert_width: 4\n"),
                             r"tiny\.yaml:14: key 'expert_width' is given twice \(lines 13 and 14\)"),
    "YAML syntax error": (_edit("seeds: [0]", "seeds: [0"),
                          r"tiny\.yaml:20:6: YAML syntax error: while parsing a flow sequence .*"
                          r"\(begun at line 19, column 8\); fix the file"),
    "tab indentation": (_edit("  iterations: 4", "\titerations: 4"), r"tiny\.yaml:21:1: YAML syntax error"),
    "integer written as a float": (_edit("iterations: 4", "iterations: 4.0"),
                                   r"config key 'train\.iterations': 4\.0 must be an integer: write 4"),
    "float in a per-dataset override": (
        _edit("    split: {test_fraction: 0.5, seed: 0}", "    split: {test_fraction: 0.5, seed: 0}\n"
              "    train: {batch_size: 2.0}"),
        r"config key 'datasets\.phantom2d\.train': 2\.0 must be an integer: write 2"),
    "dataset name with a space": (_edit("  phantom2d:", "  phantom 2d:"),
                                  r"config key 'datasets': name 'phantom 2d' is not allowed.*letters, digits"),
    "variant name with a slash": (_edit("  morse: {}", "  mor/se: {base: morse}"),
                                  r"config key 'variants': name 'mor/se' is not allowed"),
    "backbone name with a quote": (_edit("  unet: {}", "  \"un'et\": {}"),
                                   r"config key 'backbones': name \"un'et\" is not allowed.*':'"),
    "ablation value making an unsafe name": (_append("ablations: {knobs: {fusion: ['a b']}}\n"),
                                             r"name 'morse-fusion-a b' is not allowed"),
    "wrong split key": (_edit("split: {test_fraction: 0.5, seed: 0}", "split: {tests: [case_000], seed: 0}"),
                        r"config key 'datasets\.phantom2d\.split': Additional properties.*'tests' was unexpected"),
    "no baseline variant": (_edit("  baseline: {}\n", ""),
                            r"config key 'variants': no 'baseline' variant.*add `baseline: \{\}`"),
    # checks the config alone decides, at `morse-bench check` (not after training)
    "NSD tolerance larger than the phantom's images": (
        _edit(SPLIT, SPLIT + "    evaluate: {nsd_tolerance_mm: 500}\n"),
        r"config key 'datasets\.phantom2d\.evaluate\.nsd_tolerance_mm': 500 mm is larger than the "
        r"images \(the smallest case measures 54\.5 mm corner to corner\); use a few voxel widths"),
    "NSD tolerance under the top-level evaluate": (
        _append("evaluate: {nsd_tolerance_mm: 1.5}\n"),
        r"config key 'evaluate': .*'nsd_tolerance_mm' was unexpected\); nsd_tolerance_mm is set per "
        r"dataset: move it under datasets\.<name>\.evaluate"),
    "max_dropped_experts not below the default expert count": (
        _edit("  expert_width: 8\n", "  expert_width: 8\n  max_dropped_experts: 5\n"),
        r"config key 'variants\.morse' / 'method': on backbone 'unet' \(5 feature maps, so num_experts "
        r"defaults to 5\): HeadConfig\.max_dropped_experts must be <= num_experts - 1 \(4\)"),
    "classes without a lower-case background": (
        _edit(SPLIT, SPLIT + "    classes: {0: Background, 255: vessel}\n"),
        r"config key 'datasets\.phantom2d\.classes': .* names no value 'background' \('Background' must "
        r"be written 'background', in lower case\); .*e\.g\. \{0: background, 255: vessel\}"),
    "classes naming one class": (
        _edit(SPLIT, SPLIT + "    classes: {255: vessel}\n"),
        r"config key 'datasets\.phantom2d\.classes': \{255: 'vessel'\} does not have enough properties: "
        r"`classes` needs the background and at least one class to segment, e\.g\. \{0: background"),
    "learning rate NaN": (_edit("  iterations: 4\n", "  iterations: 4\n  lr: .nan\n"),
                          r"config key 'train\.lr': nan is not a finite number; write a number such as 0\.01"),
    "learning rate that YAML reads as text": (
        _edit("  iterations: 4\n", "  iterations: 4\n  lr: 1e-2\n"),
        r"config key 'train\.lr': '1e-2' is text, not a number \(YAML 1\.1 reads exponent notation "
        r"without a decimal point as a string\): write 0\.01"),
    "backbone option of the wrong length": (
        _edit("  unet: {}", "  unet: {features: [16, 32]}"),
        r"config key 'backbones\.unet': features must be six positive integers .*got \[16, 32\]"),
    "variant named like an ablation point": (
        lambda text: _edit("  morse: {}\n", "  morse: {}\n  morse-num_points-32: {base: morse, num_points: 16}\n")(
            text) + "ablations: {knobs: {num_points: [32]}}\n",
        r"config key 'variants\.morse-num_points-32': \{'base': 'morse', 'num_points': 16\} is also the "
        r"name of the ablation point ablations\.knobs\.num_points: 32 of 'morse' \(\{'base': 'morse', "
        r"'num_points': 32\}\); rename the variant or remove that value from the ablation"),
    "fewer than two snapshots": (_edit("  log_every: 1", "  log_every: 1\n  snapshots: 1"),
                                 r"config key 'train\.snapshots': 1 is less than the minimum of 2"),
    "fewer than two snapshots for one dataset": (
        _edit("    split: {test_fraction: 0.5, seed: 0}", "    split: {test_fraction: 0.5, seed: 0}\n"
              "    train: {snapshots: 0}"),
        r"config key 'datasets\.phantom2d\.train': 0 is less than the minimum of 2"),
    "until plateau without a maximum": (_edit("  log_every: 1", "  log_every: 1\n  until: plateau"),
                                        r"config key 'train\.until': plateau .*set train\.max_iterations"),
    "a maximum without until plateau": (
        _edit("    split: {test_fraction: 0.5, seed: 0}", "    split: {test_fraction: 0.5, seed: 0}\n"
              "    train: {max_iterations: 100}"),
        r"config key 'datasets\.phantom2d\.train\.max_iterations': only used with train\.until: plateau"),
    "dataset variant list without baseline": (
        _edit("    split: {test_fraction: 0.5, seed: 0}", "    split: {test_fraction: 0.5, seed: 0}\n"
              "    variants: [morse]"),
        r"config key 'datasets\.phantom2d\.variants': \['morse'\] lacks 'baseline'"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_is_one_line_naming_cause_and_fix(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    edit, message = CONFIG_CASES[case]
    path = tmp_path / "tiny.yaml"
    path.write_text(edit(TINY))
    before = sorted(tmp_path.iterdir())
    assert cli.main(["check", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("morse-bench check: error: "), err
    assert re.search(message, err), err
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    assert sorted(tmp_path.iterdir()) == before  # nothing written


def test_unetr_img_size_against_patch_size_is_refused_at_check_time(tmp_path: Path) -> None:
    config = TINY.replace("kind: phantom2d", "kind: phantom3d").replace(
        "phantom: {n_cases: 4, n_val_cases: 1, n_slices: 2, size: 64, seed: 7}",
        "phantom: {n_cases: 4, size: 32, depth: 32}")
    config = config.replace("  unet: {}", "  unetr: {img_size: 96}").replace("patch_size: [64, 64]",
                                                                               "patch_size: [32, 32, 32]")
    path = tmp_path / "unetr.yaml"
    path.write_text(config)
    with pytest.raises(ConfigError, match=r"backbones\.unetr.*unetr takes exactly img_size \[96, 96, 96\] but "
                                          r"patch_size is \[32, 32, 32\]; set the backbone option img_size"):
        load_config(path)
    path.write_text(config.replace("img_size: 96", "img_size: 32"))
    assert load_config(path)["backbones"]["unetr"] == {"img_size": 32}  # matching sizes pass


def test_device_cuda_without_a_gpu_is_refused_at_check_time(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = load_config(TINY_CONFIG)
    config["device"] = "cuda"
    with pytest.raises(ConfigError, match=r"config key 'device': cuda, but torch finds no CUDA device.*device: cpu"):
        check_device(config, cuda_available=lambda: False)
    check_device(config, cuda_available=lambda: True)
    if not torch.cuda.is_available():  # the real probe, through the command line
        path = tmp_path / "cuda.yaml"
        path.write_text(TINY.replace("device: cpu", "device: cuda"))
        assert cli.main(["check", "--config", str(path)]) == 1
        assert "finds no CUDA device" in capsys.readouterr().err
        assert cli.main(["check", "--config", str(path), "--skip-device-check"]) == 0  # for a cluster


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "status", "message"), [
    (["train", "--config", str(TINY_CONFIG), "--data", "d", "--out-dir", "o"], 1,
     r"morse-bench train: error: --config needs --dataset, --backbone, --variant and --seed; missing "
     r"--dataset, --backbone, --variant, --seed"),
    (["train", "--config", str(TINY_CONFIG), "--dataset", "phantom2d", "--backbone", "unet", "--variant",
      "morse", "--data", "d", "--out-dir", "o"], 1, r"missing --seed$"),
    (["train", "--config", str(TINY_CONFIG), "--dataset", "phantom", "--backbone", "unet", "--variant",
      "morse", "--seed", "0", "--data", "d", "--out-dir", "o"], 1, r"--dataset 'phantom' is not in .*\(phantom2d\)"),
    (["train", "--data", "d", "--out-dir", "o"], 1, r"give --run-config JSON, or --config with --dataset"),
    (["train", "--out-dir", "o"], 2,
     r"morse-bench train: error: the following arguments are required: --data \(see `morse-bench train --help`\)"),
    (["evaluate", "--run-dir", "r"], 2, r"required: --data"),
    (["prepare", "--name", "x", "--dataset-config", "[1]", "--raw", "r", "--out", "o"], 2,
     r"argument --dataset-config: expected a JSON object"),
])
def test_cli_misuse_is_one_line(argv: list[str], status: int, message: str, capsys: pytest.CaptureFixture) -> None:
    if status == 2:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
    else:
        assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err.strip()), err


# --- runs and checkpoints ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("matrix") / "run"
    train_run(make_run("baseline", iterations=1), tiny_prepared, out, progress=False)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_evaluate_refuses_another_prepared_dataset_naming_both(
    trained: Path, prepared_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = json.loads((trained / "run.json").read_text())
    assert run["data"]["name"] == "phantom" and run["data"]["fingerprint"]
    run_copy = tmp_path / "run"
    run_copy.mkdir()
    for name, data in _files(trained).items():
        (run_copy / name).write_bytes(data)
    (run_copy / "metrics.csv").write_text("earlier,result\n1,2\n")
    before = _files(run_copy)

    meta = prepared_copy / "dataset.json"  # another dataset: other name and classes
    info = json.loads(meta.read_text())
    info["name"], info["class_names"] = "other", [*info["class_names"][:-1], "liver2"]
    meta.write_text(json.dumps(info))
    argv = ["evaluate", "--run-dir", str(run_copy), "--data", str(prepared_copy), "--no-progress"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{prepared_copy} is not the prepared dataset {run_copy} was trained on" in err
    assert "name 'phantom' at training, 'other' now" in err and "liver2" in err and "fingerprint" in err
    assert "delete the run folder to retrain" in err

    # the same name and classes but edited files (another fingerprint) are refused as well
    info["name"], info["class_names"] = run["data"]["name"], run["data"]["class_names"]
    meta.write_text(json.dumps(info))
    case = info["splits"]["test"][0]
    (prepared_copy / "labels" / f"{case}.npy").write_bytes(b"")
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "fingerprint" in err and "name 'phantom'" not in err
    assert _files(run_copy) == before  # metrics.csv and the model untouched


@pytest.mark.parametrize(("target", "kind"), [("model.pt", "truncated"), ("model.pt", "garbage"),
                                             ("checkpoint.pt", "truncated")])
def test_corrupt_model_or_checkpoint_names_the_path_and_the_remedy(
    target: str, kind: str, trained: Path, tiny_prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name, data in _files(trained).items():
        (run_dir / name).write_bytes(data)
    model = (trained / "model.pt").read_bytes()
    broken = model[: len(model) // 2] if kind == "truncated" else b"not a torch file at all"
    (run_dir / target).write_bytes(broken)
    before = _files(run_dir)
    if target == "model.pt":
        argv = ["evaluate", "--run-dir", str(run_dir), "--data", str(tiny_prepared), "--no-progress"]
    else:
        run = make_run("baseline", iterations=1)
        argv = ["train", "--run-config", json.dumps(run), "--data", str(tiny_prepared),
                "--out-dir", str(run_dir), "--no-progress"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{run_dir / target} is corrupt or truncated" in err and "delete it to retrain" in err
    assert _files(run_dir) == before  # the broken file is left for the user to inspect


def test_missing_prepared_case_says_to_delete_the_folder(prepared_copy: Path, trained: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    info = json.loads((prepared_copy / "dataset.json").read_text())
    case = info["splits"]["test"][0]
    (prepared_copy / "images" / f"{case}.npy").unlink()
    from morse.data.errors import MissingDataError
    from morse.data.prepared.format import load_case

    with pytest.raises(MissingDataError, match=rf"case '{case}' not found.*incomplete: delete "
                                               rf"{re.escape(str(prepared_copy))} and run snakemake again"):
        load_case(prepared_copy, case)


# --- temporaries of killed data steps ---------------------------------------------------------


@pytest.mark.parametrize("step", ["fetch", "prepare"])
def test_a_data_step_removes_only_its_own_stale_temporaries(step: str, tiny_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "data" / step / "phantom2d"
    out.parent.mkdir(parents=True)
    own = [out.parent / ".tmp-0123456789ab-phantom2d", out.parent / ".old-ba9876543210-phantom2d"]
    others = [out.parent / ".tmp-0123456789ab-other", out.parent / ".tmp-0123456789ab-xphantom2d",
              out.parent / ".tmp-0123456789ab-phantom2d-3d", out.parent / "phantom2d-notes"]
    for folder in own + others:
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "half.npy").write_bytes(b"half")  # as a killed write leaves it
    assert stale_temporaries(out) == sorted(own)
    entry = json.dumps({"kind": "phantom2d", "phantom": {"n_cases": 4, "n_slices": 1, "size": 32}})
    argv = [step, "--name", "phantom2d", "--dataset-config", entry, "--out", str(out)]
    if step == "prepare":
        argv += ["--raw", str(tiny_raw)]
    assert cli.main(argv) == 0
    assert not any(p.exists() for p in own)
    assert all((p / "images" / "half.npy").read_bytes() == b"half" for p in others)
    assert out.is_dir() and stale_temporaries(out) == []


def test_a_patch_size_the_backbone_cannot_take_is_refused_at_check_time(tmp_path: Path) -> None:
    """TransUNet's skips meet its 1/16 token grid: a 40 px patch would fail inside the network at
    the first training step; the config check names the keys and a size that works."""
    config = TINY.replace("  unet: {}", "  transunet: {size: small, img_size: 32}").replace(
        "patch_size: [64, 64]", "patch_size: [40, 40]")
    path = tmp_path / "transunet.yaml"
    path.write_text(config)
    with pytest.raises(ConfigError, match=r"'datasets\.\w+\.train\.patch_size' / 'backbones\.transunet': "
                                          r"transunet needs every patch side to be a multiple of 16 .* "
                                          r"patch_size is \[40, 40\]; use e\.g\. \[48, 48\]"):
        load_config(path)
    path.write_text(config.replace("patch_size: [40, 40]", "patch_size: [48, 48]"))
    assert load_config(path)["backbones"]["transunet"]["size"] == "small"
