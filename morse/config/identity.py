"""A run's identity: the settings that determine its trained weights, and their hash.

Settings that do not change the trained weights are recorded in run.json but left out of the
run's identity hash, so changing them neither retrains nor (except `evaluate`) re-evaluates.
Samples do not depend on the loader workers (tested). The thread count does on CPU: torch's CPU
kernels split their reductions by thread and round differently, so the weights trained on 1 and
on 2 threads differ and `threads` is part of the identity unless the run is on CUDA, where it
only sizes the CPU-side thread pool.
Validation (`validate_every`) and snapshots (`snapshots`) do not change the weights either
(validation consumes no random number: tested). Under `until: plateau` the stop is decided on
the validation and log rows, so there `validate_every` and `log_every` are part of the identity.
The device enters the identity as the one it resolves to
on the machine that plans the runs: ``auto`` on a machine without a GPU is ``cpu``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from morse.device import cuda_available

RUNTIME_TRAIN_KEYS = ("log_every", "checkpoint_every", "num_workers", "validate_every", "snapshots")
CUDA_RUNTIME_TRAIN_KEYS = (*RUNTIME_TRAIN_KEYS, "threads")
RUNTIME_RUN_KEYS = ("evaluate",)
# the rows the stop of `until: plateau` is decided on
PLATEAU_STOP_KEYS = ("log_every", "validate_every")


def resolved_device(requested: str | None) -> str:
    """The device a run's ``device`` setting resolves to here, without importing torch:
    ``cuda`` or ``cpu`` (``auto`` is ``cuda`` where a CUDA build of torch and a driver are
    installed). What the Snakefile plans GPU resources with, and what the run identity holds."""
    if requested == "auto" or requested is None:
        return "cuda" if cuda_available(import_torch=False) else "cpu"
    return str(requested)


def _runtime_train_keys(run: dict[str, Any]) -> tuple[str, ...]:
    keys = CUDA_RUNTIME_TRAIN_KEYS if resolved_device(run.get("device")) == "cuda" else RUNTIME_TRAIN_KEYS
    if run["train"].get("until") == "plateau":
        keys = tuple(k for k in keys if k not in PLATEAU_STOP_KEYS)
    return keys


def run_identity(run: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved run config that determines the trained weights: everything but
    the evaluation, logging, checkpoint-interval, data-loader-worker, validation-interval and
    snapshot settings (and, on CUDA, the CPU thread count; under ``until: plateau`` the logging
    and validation intervals are part of it), with the device as it resolves (``auto`` and ``cpu`` are one run on a
    machine without a GPU)."""
    runtime = _runtime_train_keys(run)
    identity = {k: v for k, v in run.items() if k not in RUNTIME_RUN_KEYS}
    if "device" in run:
        identity["device"] = resolved_device(run["device"])
    identity["train"] = {k: v for k, v in run["train"].items() if k not in runtime}
    return identity


def run_settings(run: dict[str, Any]) -> dict[str, Any]:
    """The complement of :func:`run_identity`: settings recorded in run.json that do not retrain,
    and the device as requested (``auto`` is resolved again by the job, on its machine)."""
    settings = {k: run[k] for k in RUNTIME_RUN_KEYS if k in run}
    if "device" in run:
        settings["device"] = run["device"]
    settings["train"] = {k: run["train"][k] for k in _runtime_train_keys(run) if k in run["train"]}
    return settings


def merge_settings(run: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """``run`` with the non-identity ``settings`` (from :func:`run_settings`) laid over it."""
    merged = {**run, **{k: v for k, v in settings.items() if k != "train"}}
    merged["train"] = {**run["train"], **settings.get("train", {})}
    return merged


def config_hash(run: dict[str, Any]) -> str:
    """A short stable hash of what in a resolved run config changes the trained weights
    (:func:`run_identity`; ignoring any existing hash)."""
    payload = {k: v for k, v in run_identity(run).items() if k != "config_hash"}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
