"""Training loop, checkpoints, inference and evaluation on a tiny prepared phantom."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from training_runs import assert_same_log, assert_same_weights, kill_after_checkpoint, make_run
from workflow_runner import TINY_CONFIG

from morse.config import run_config, validate_config
from morse.engine import loop as loop_module
from morse.engine.checkpoint import (
    CheckpointMismatchError,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from morse.engine.device import select_device
from morse.engine.evaluate import evaluate_run, qualitative_slice
from morse.engine.inference import predict_volume_2d
from morse.engine.train import NonFiniteLossError, build_model, poly_lr, train_run


def test_poly_lr_hand_values() -> None:
    assert poly_lr(0.01, 0, 100, 0.9, 0.1) == pytest.approx(0.01)
    assert poly_lr(0.01, 100, 100, 0.9, 0.1) == pytest.approx(0.001)
    # halfway: 0.001 + 0.009 * 0.5 ** 0.9
    assert poly_lr(0.01, 50, 100, 0.9, 0.1) == pytest.approx(0.001 + 0.009 * 0.5**0.9)
    assert poly_lr(0.01, 50, 100, 0.9, 0.0) == pytest.approx(0.01 * 0.5**0.9)  # the script's schedule


def test_rng_state_round_trip() -> None:
    state = rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_cuda_request_without_gpu_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        select_device("cuda")
    assert select_device("auto").type == "cpu"


def test_training_writes_outputs_and_is_deterministic(tiny_prepared: Path, tmp_path: Path) -> None:
    run = make_run("morse", iterations=3)
    first = train_run(run, tiny_prepared, tmp_path / "a", progress=False)
    train_run(run, tiny_prepared, tmp_path / "b", progress=False)
    weights_a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["model"]
    weights_b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    log = pd.read_csv(tmp_path / "a" / "train_log.csv")
    assert list(log["iteration"]) == [1, 2, 3]
    # ramp schedule: weight (t - T/2) / T after the first half, 0 before
    assert list(log["point_weight"]) == pytest.approx([0.0, 0.0, (2 - 1.5) / 3])
    assert log["point_loss"].gt(0).all() and log["coarse_point_loss"].gt(0).all()
    assert log[["point_accuracy", "coarse_point_accuracy"]].stack().between(0, 1).all()
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["config_hash"] == run["config_hash"] == first["config_hash"]
    plateau = record["point_loss_plateau"]  # 3 iterations: one row in the last fifth, undetermined
    assert plateau["n_rows"] == 1 and plateau["converged"] is None and plateau["window_end"] == 3
    assert record["head"]["expert_width"] == 8 and "torch" in record["versions"]
    assert not (tmp_path / "a" / "checkpoint.pt").exists()  # removed once the model is final


def test_nan_loss_stops_with_the_run_name_and_keeps_the_last_checkpoint(
    tiny_prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_loss = loop_module.CoarseLoss

    class NaNAfterTwo(real_loss):
        def forward(self, logits, target):
            calls["n"] += 1
            loss = super().forward(logits, target)
            return loss * float("nan") if calls["n"] > 2 else loss

    monkeypatch.setattr(loop_module, "CoarseLoss", NaNAfterTwo)
    run = make_run("baseline", iterations=5, checkpoint_every=2)
    with pytest.raises(NonFiniteLossError, match=r"phantom/unet/baseline/seed0.*iteration 2"):
        train_run(run, tiny_prepared, tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt", run["config_hash"])["iteration"] == 2
    assert not (tmp_path / "model.pt").exists()


def test_resume_is_exact_and_refuses_another_config(
    tiny_prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run("baseline", iterations=4, checkpoint_every=2)
    kill_after_checkpoint(monkeypatch)  # simulated kill right after the first checkpoint
    with pytest.raises(KeyboardInterrupt):
        train_run(run, tiny_prepared, tmp_path, progress=False)
    monkeypatch.undo()

    other = make_run("baseline", iterations=4, checkpoint_every=2, lr=0.02)
    with pytest.raises(CheckpointMismatchError, match="config hash"):
        train_run(other, tiny_prepared, tmp_path, progress=False)

    record = train_run(run, tiny_prepared, tmp_path, progress=False)
    assert record["resumed_from_iteration"] == 2
    assert list(pd.read_csv(tmp_path / "train_log.csv")["iteration"]) == [1, 2, 3, 4]
    # bit for bit what an uninterrupted run gives (more in tests/reliability/test_resume.py)
    train_run(run, tiny_prepared, tmp_path / "straight", progress=False)
    assert_same_weights(tmp_path / "model.pt", tmp_path / "straight" / "model.pt")


def test_slice_wise_inference_resizes_back_to_the_volume(tiny_prepared: Path) -> None:
    from morse.data.prepared.format import load_case, read_dataset_info

    info = read_dataset_info(tiny_prepared)
    torch.manual_seed(0)
    model = build_model(make_run("morse", iterations=3), info).eval()
    image, _ = load_case(tiny_prepared, info.splits["test"][0])
    image = np.array(image)
    out = predict_volume_2d(model, image, (48, 48), torch.device("cpu"), slice_batch=2)
    assert set(out) == {"coarse", "refined"}
    assert out["coarse"].shape == image.shape[1:] and out["coarse"].dtype == np.uint8
    assert out["coarse"].max() < len(info.class_names)
    baseline = build_model(make_run("baseline", iterations=3), info).eval()
    assert set(predict_volume_2d(baseline, image, (32, 32), torch.device("cpu"))) == {"coarse"}


def test_qualitative_slice_prefers_more_classes_then_more_foreground() -> None:
    label = np.zeros((3, 8, 8), np.uint8)
    label[0, :4] = 1  # one class, large
    label[1, 0, 0], label[1, 1, 1] = 1, 2  # two classes, tiny
    label[2, 0, :2], label[2, 1, :3] = 1, 2  # two classes, larger
    assert qualitative_slice(label) == 2


def test_evaluation_scores_both_outputs_per_case_and_class(tiny_prepared: Path, tmp_path: Path) -> None:
    from morse.data.prepared.format import load_case, read_dataset_info

    info = read_dataset_info(tiny_prepared)
    train_run(make_run("morse", iterations=1), tiny_prepared, tmp_path, progress=False)
    metrics = evaluate_run(tmp_path, tiny_prepared, progress=False)
    n_test, n_foreground = len(info.splits["test"]), len(info.class_names) - 1
    assert len(metrics) == 2 * n_test * n_foreground
    assert set(metrics["output"]) == {"coarse", "refined"}
    assert (tmp_path / "metrics.csv").exists()
    refinement = pd.read_csv(tmp_path / "refinement.csv", dtype={"step": str})
    assert set(refinement["step"]) == {"1", "2", "all"}  # tiny.yaml: two subdivision steps
    assert len(refinement) == n_test * 3 * len(info.class_names)
    assert (refinement["coarse_correct"] + refinement["fixed"] - refinement["broken"]
            == refinement["refined_correct"]).all()
    n_slices = sum(load_case(tiny_prepared, c)[1].shape[0] for c in info.splits["test"])
    per_step = refinement[refinement["step"] == "1"]["overwritten"].sum()
    assert per_step == n_slices * 256  # 32 x 32 slices at network size: 256 points per slice
    with np.load(tmp_path / "qualitative.npz") as qualitative:
        assert qualitative["image"].shape == qualitative["label"].shape == (32, 32)
        assert qualitative["points"].shape == (256, 2)  # tiny.yaml: subdivision_points 256 < 32 x 32
        assert qualitative["points"].min() >= -0.5 and qualitative["points"].max() <= 31.5
    train_run(make_run("baseline", iterations=1), tiny_prepared, tmp_path / "baseline", progress=False)
    evaluate_run(tmp_path / "baseline", tiny_prepared, progress=False)
    headless = pd.read_csv(tmp_path / "baseline" / "refinement.csv")
    assert headless.empty and "fixed" in headless.columns  # no head: a header, no rows
    assert json.loads((tmp_path / "baseline" / "run.json").read_text())["point_loss_plateau"] is None


def test_two_stage_variant_starts_from_the_pretrained_backbone(tiny_prepared: Path, tmp_path: Path) -> None:
    from morse.config import pretrain_config
    from morse.data.prepared.format import read_dataset_info
    from morse.engine.train import initialise_backbone

    config = yaml.safe_load(TINY_CONFIG.read_text())
    config.update(protocol="two_stage", datasets={"phantom": {"kind": "phantom2d"}})
    config["train"].update({"iterations": 2, "patch_size": [32, 32]})
    config = validate_config(config)
    pre = pretrain_config(config, "phantom", "unet", 0)
    train_run(pre, tiny_prepared, tmp_path / "pretrain", progress=False)
    run = run_config(config, "phantom", "unet", "morse", 0)
    assert run["init_config_hash"] == pre["config_hash"]

    model = build_model(run, read_dataset_info(tiny_prepared))
    loaded = initialise_backbone(model, tmp_path / "pretrain" / "model.pt", run["init_config_hash"])
    saved = torch.load(tmp_path / "pretrain" / "model.pt", weights_only=True)["model"]
    own = model.state_dict()
    backbone_keys = [k for k in saved if k.startswith("backbone.")]
    assert loaded == len(backbone_keys) > 0
    assert all(torch.equal(own[k], saved[k]) for k in backbone_keys)

    with pytest.raises(CheckpointMismatchError):
        initialise_backbone(model, tmp_path / "pretrain" / "model.pt", "another-hash")
    with pytest.raises(ValueError, match="no pretrained model"):
        train_run(run, tiny_prepared, tmp_path / "morse", progress=False)
    record = train_run(run, tiny_prepared, tmp_path / "morse", progress=False,
                       init_from=tmp_path / "pretrain" / "model.pt")
    assert record["init_from"].endswith("model.pt")


def test_refined_labels_differ_from_coarse_only_within_the_point_budget(tiny_prepared: Path) -> None:
    from morse.data.prepared.format import load_case, read_dataset_info

    info = read_dataset_info(tiny_prepared)
    image = np.array(load_case(tiny_prepared, info.splits["test"][0])[0])
    torch.manual_seed(0)
    run = make_run("morse", iterations=3)
    run["head"] = {**run["head"], "subdivision_points": 40, "subdivision_steps": 2}
    model = build_model(run, info).eval()
    out = predict_volume_2d(model, image, (32, 32), torch.device("cpu"))
    changed_per_slice = (out["refined"] != out["coarse"]).reshape(len(image[0]), -1).sum(1)
    assert (changed_per_slice <= 2 * 40).all()  # at most steps x points labels per slice change
    traced = predict_volume_2d(model, image, (32, 32), torch.device("cpu"), overwritten=True)
    assert np.array_equal(traced["refined"], out["refined"])  # tracing does not change the output
    assert traced["overwritten"].shape == (2, *out["coarse"].shape)
    assert (traced["overwritten"].reshape(2, len(image[0]), -1).sum(2) == 40).all()
    changed = out["refined"] != out["coarse"]
    assert not (changed & ~traced["overwritten"].any(0)).any()  # only overwritten pixels change
    run["head"]["subdivision_steps"] = 0
    model_no_steps = build_model(run, info).eval()
    model_no_steps.load_state_dict(model.state_dict())
    same = predict_volume_2d(model_no_steps, image, (32, 32), torch.device("cpu"))
    assert np.array_equal(same["refined"], same["coarse"])
    assert np.array_equal(same["coarse"], out["coarse"])  # the coarse output ignores the head


def test_validation_scoring_reads_only_the_val_cases(tiny_raw: Path, tmp_path: Path) -> None:
    """``split="val"`` (how benchmarks/head_budget.py chooses a budget) scores the val cases and
    none of the test cases; any other split name is refused."""
    from morse.data.prepared.format import read_dataset_info
    from morse.data.prepared.from_nifti import prepare_nifti_dataset

    data = tmp_path / "prepared"
    prepare_nifti_dataset(tiny_raw, data, name="phantom", spatial_dims=2, test_fraction=0.25,
                          val_fraction=0.25)
    info = read_dataset_info(data)
    assert info.splits["val"] and not set(info.splits["val"]) & set(info.splits["test"])
    train_run(make_run("morse", iterations=1), data, tmp_path / "run", progress=False)
    metrics = evaluate_run(tmp_path / "run", data, progress=False, split="val")
    assert sorted(set(metrics["case"])) == sorted(info.splits["val"])
    refinement = pd.read_csv(tmp_path / "run" / "refinement.csv", dtype={"case": str})
    assert sorted(set(refinement["case"])) == sorted(info.splits["val"])
    with pytest.raises(ValueError, match="'val' or the 'test' split, not 'train'"):
        evaluate_run(tmp_path / "run", data, progress=False, split="train")


def test_log_rows_are_means_over_the_logging_interval(
    tiny_prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row with log_every=3 holds the means of the three per-step rows (log_every=1) it
    covers, lr and point weight of its last step; a resume in mid-interval keeps that."""
    train_run(make_run("morse", iterations=6, log_every=1), tiny_prepared, tmp_path / "each",
              progress=False)
    every = pd.read_csv(tmp_path / "each" / "train_log.csv")
    train_run(make_run("morse", iterations=6, log_every=3), tiny_prepared, tmp_path / "three",
              progress=False)
    three = pd.read_csv(tmp_path / "three" / "train_log.csv")
    assert list(three["iteration"]) == [3, 6]
    for column in ("loss", "coarse_loss", "point_loss", "point_accuracy", "coarse_point_loss"):
        expected = [every[column][:3].mean(), every[column][3:].mean()]
        np.testing.assert_allclose(three[column], expected, rtol=1e-6)
        assert every[column][:3].nunique() > 1  # a mean, not one step's value
    np.testing.assert_array_equal(three["lr"], every["lr"].iloc[[2, 5]])
    # killed after the checkpoint of iteration 2, inside the first logging interval
    resumed = make_run("morse", iterations=6, log_every=3, checkpoint_every=2)
    kill_after_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train_run(resumed, tiny_prepared, tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    train_run(resumed, tiny_prepared, tmp_path / "resumed", progress=False)
    assert_same_log(tmp_path / "resumed" / "train_log.csv", tmp_path / "three" / "train_log.csv")


def test_channels_last_run_resumes_exactly_and_tracks_the_standard_run(
    tiny_prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train.channels_last``: the backbone trains in the channels-last layout, a kill and resume
    is bit for bit the uninterrupted run, and the weights stay within float32 round-off of the
    standard layout's run (only the convolutions' summation order differs)."""
    run = make_run("morse", iterations=4, checkpoint_every=2, channels_last=True)
    assert run["config_hash"] != make_run("morse", iterations=4, checkpoint_every=2)["config_hash"]
    from morse.data.prepared.format import read_dataset_info

    model = build_model(run, read_dataset_info(tiny_prepared))
    assert model.backbone.conv_0.conv_1.conv.weight.is_contiguous(memory_format=torch.channels_last)
    kill_after_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train_run(run, tiny_prepared, tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    assert train_run(run, tiny_prepared, tmp_path / "resumed", progress=False)["resumed_from_iteration"] == 2
    train_run(run, tiny_prepared, tmp_path / "straight", progress=False)
    assert_same_weights(tmp_path / "resumed" / "model.pt", tmp_path / "straight" / "model.pt")

    train_run(make_run("morse", iterations=4, checkpoint_every=2), tiny_prepared, tmp_path / "standard",
              progress=False)
    fast = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["model"]
    standard = torch.load(tmp_path / "standard" / "model.pt", weights_only=True)["model"]
    assert any(not torch.equal(fast[k], standard[k]) for k in fast)  # really another summation order
    for name, value in standard.items():
        if value.is_floating_point():
            torch.testing.assert_close(fast[name], value, atol=1e-4, rtol=1e-4, msg=name)


def _backbone_weights(path: Path) -> dict[str, torch.Tensor]:
    weights = torch.load(path, map_location="cpu", weights_only=True)["model"]
    return {k: v for k, v in weights.items() if k.startswith("backbone.")}


def test_a_head_in_warmup_leaves_the_backbone_as_the_baselines(tiny_prepared: Path, tmp_path: Path) -> None:
    """While the point loss does not reach the backbone, a head variant's backbone trains exactly
    as the baseline's (the head's random draws use no generator the backbone's training reads);
    with the point loss reaching it from the first iteration, it does not."""
    baseline = make_run("baseline", iterations=3)
    train_run(baseline, tiny_prepared, tmp_path / "baseline", progress=False)
    reference = _backbone_weights(tmp_path / "baseline" / "model.pt")
    for warmup, equal in ((1000, True), (0, False)):
        head = {"point_loss_schedule": "constant", "head_warmup": warmup, "expert_width": 8}
        config = yaml.safe_load(TINY_CONFIG.read_text())
        config.update(datasets={"phantom": {"kind": "phantom2d"}}, protocol="single_stage",
                      method={**config.get("method", {}), **head})
        config["train"].update({"iterations": 3, "patch_size": [32, 32]})
        run = run_config(validate_config(config), "phantom", "unet", "morse", 0)
        train_run(run, tiny_prepared, tmp_path / f"warmup{warmup}", progress=False)
        weights = _backbone_weights(tmp_path / f"warmup{warmup}" / "model.pt")
        same = all(torch.equal(weights[k], reference[k]) for k in reference)
        assert same == equal, f"head_warmup {warmup}: backbone equal to the baseline's is {same}"
