"""A run's identity hash: everything that changes the trained weights, nothing else."""

from __future__ import annotations

import copy

import pytest

from morse.config import config_hash, run_config, validate_config
from morse.config.identity import merge_settings, run_identity, run_settings


def test_config_hash_changes_with_any_hyper_parameter(tiny: dict) -> None:
    config = validate_config(tiny)
    first = run_config(config, "phantom2d", "unet", "morse", 0)
    changed = copy.deepcopy(config)
    changed["train"]["lr"] = 0.02
    second = run_config(changed, "phantom2d", "unet", "morse", 0)
    assert first["config_hash"] != second["config_hash"]
    assert first["config_hash"] == config_hash(first)
    assert first["config_hash"] != run_config(config, "phantom2d", "unet", "morse", 1)["config_hash"]


@pytest.mark.parametrize(("block", "key", "value"), [
    ("train", "log_every", 7), ("train", "checkpoint_every", 5), ("train", "num_workers", 2),
    ("evaluate", "slice_batch", 3), ("cuda", "threads", 3), ("train", "validate_every", 3),
    ("train", "snapshots", 7),
])
def test_identity_hash_ignores_settings_that_do_not_change_the_weights(
    tiny: dict, block: str, key: str, value: int
) -> None:
    if block == "cuda":  # the CPU thread count only sizes a thread pool beside the GPU
        tiny["device"], block = "cuda", "train"
    first = run_config(validate_config(tiny), "phantom2d", "unet", "morse", 0)
    tiny.setdefault(block, {})[key] = value
    second = run_config(validate_config(tiny), "phantom2d", "unet", "morse", 0)
    assert second[block][key] == value  # recorded in the run config (run.json) ...
    assert second["config_hash"] == first["config_hash"]  # ... but the same run: no retraining
    assert run_identity(second) == run_identity(first)
    # what the train rule passes (identity as the param, settings beside it) is the whole run
    assert merge_settings(run_identity(second), run_settings(second)) == second


def test_identity_hash_covers_everything_that_changes_the_weights(tiny: dict) -> None:
    config = validate_config(tiny)
    first = run_config(config, "phantom2d", "unet", "morse", 0)
    # opt-in layouts and compilation get no default, so runs that never set them keep their hash
    assert "channels_last" not in first["train"] and "compile" not in first["train"]
    for block, key, value in (("train", "iterations", 5), ("train", "batch_size", 1), ("train", "amp", False),
                              ("train", "augment", "none"), ("method", "num_points", 32), ("device", None, "cuda"),
                              ("train", "threads", 2),  # on CPU the thread count changes the rounding
                              ("train", "channels_last", True), ("train", "compile", True)):
        changed = copy.deepcopy(tiny)
        if key is None:
            changed[block] = value
        else:
            changed[block][key] = value
        assert run_config(validate_config(changed), "phantom2d", "unet", "morse", 0)["config_hash"] != \
            first["config_hash"], (block, key)


@pytest.mark.parametrize("gpu", [False, True])
def test_requested_device_is_one_run_with_the_device_it_resolves_to(
    tiny: dict, gpu: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`auto` trains the same run as the device it picks here (no retraining for `cpu` -> `auto`
    on a machine without a GPU), and the train rule still hands the job `auto` to resolve."""
    monkeypatch.setattr("morse.config.identity.cuda_available", lambda import_torch=True: gpu)
    hashes = {}
    for device in ("auto", "cpu", "cuda"):
        tiny["device"] = device
        run = run_config(validate_config(tiny), "phantom2d", "unet", "morse", 0)
        hashes[device] = run["config_hash"]
        assert run_identity(run)["device"] == ("cuda" if device == "cuda" or (device == "auto" and gpu) else "cpu")
        assert merge_settings(run_identity(run), run_settings(run))["device"] == device
    assert hashes["auto"] == hashes["cuda" if gpu else "cpu"] != hashes["cpu" if gpu else "cuda"]


def test_until_plateau_joins_the_identity_with_the_intervals_it_stops_on(tiny: dict) -> None:
    config = validate_config(tiny)
    fixed = run_config(config, "phantom2d", "unet", "morse", 0)
    assert "until" not in fixed["train"]  # no default filled in: hashes of fixed-count runs stay
    tiny["train"].update(until="plateau", max_iterations=50)
    plateau = run_config(validate_config(tiny), "phantom2d", "unet", "morse", 0)
    assert plateau["config_hash"] != fixed["config_hash"]
    assert plateau["train"]["iterations"] == 50 and "pretrain_iterations" not in plateau["train"]
    tiny["train"]["iterations"] = 9  # not used under until: plateau
    assert run_config(validate_config(tiny), "phantom2d", "unet", "morse", 0)["config_hash"] == plateau["config_hash"]
    # the stop is decided on the validation and log rows: their intervals retrain
    for key in ("validate_every", "log_every"):
        changed = copy.deepcopy(tiny)
        changed["train"][key] = 3
        assert run_config(validate_config(changed), "phantom2d", "unet", "morse", 0)["config_hash"] != \
            plateau["config_hash"], key
    changed = copy.deepcopy(tiny)
    changed["train"]["snapshots"] = 6  # snapshots never retrain
    assert run_config(validate_config(changed), "phantom2d", "unet", "morse", 0)["config_hash"] == plateau["config_hash"]
