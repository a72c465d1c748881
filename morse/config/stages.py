"""What each workflow step reads from the config: the Snakemake rules' parameters.

Snakemake reruns a job when one of its parameters changes, so each rule gets exactly what its
output depends on, and the data steps get nothing else on their command line (so they cannot
depend on more):

- ``fetch``: the dataset's source (:data:`SOURCE_KEYS`) and, for ``source: local``, the
  fingerprint of its folder (:func:`~morse.data.sources.fingerprint.local_dataset_fingerprint`);
- ``prepare``: the source and the preparation settings (:data:`PREPARE_KEYS`);
- ``train``: the run identity (:func:`morse.config.identity.run_identity`);
- ``evaluate``: the dataset's evaluation settings (:func:`evaluation_settings`).

The dataset keys that only choose and train runs (:data:`RUN_KEYS`) and the evaluation block
reach no data step: editing them re-fetches and re-prepares nothing.
"""

from __future__ import annotations

from typing import Any

from morse.data.sources.fingerprint import EMPTY, MISSING, local_dataset_fingerprint

__all__ = [
    "EVALUATE_KEYS",
    "PREPARE_KEYS",
    "RUN_KEYS",
    "SOURCE_KEYS",
    "evaluation_settings",
    "local_source_problem",
    "prepare_entry",
    "source_entry",
]

# Every key of a dataset entry, by the first step whose output it changes (a test checks that
# this covers the schema's keys: a new key must be placed here).
SOURCE_KEYS = ("kind", "source", "path", "format", "layout", "task", "url", "checksum", "phantom")
PREPARE_KEYS = ("spatial_dims", "slice_axis", "classes", "modalities", "spacing", "size", "split",
                "intensity", "regions")
RUN_KEYS = ("backbones", "variants", "train")
EVALUATE_KEYS = ("evaluate",)


def _subset(entry: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: entry[key] for key in keys if key in entry}


def source_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """What the fetch step gets of a dataset entry: where the raw data comes from."""
    return _subset(entry, SOURCE_KEYS)


def prepare_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """What the prepare step gets of a dataset entry: the source and the preparation settings."""
    return _subset(entry, SOURCE_KEYS + PREPARE_KEYS)


def evaluation_settings(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """A dataset's evaluation settings: the top-level ``evaluate`` with its own block over it."""
    return {**(config.get("evaluate") or {}), **(config["datasets"][dataset].get("evaluate") or {})}


def local_source_problem(config: dict[str, Any]) -> str | None:
    """Why a ``source: local`` dataset cannot be read now (its folder is missing or holds no
    file), else None.

    Checked before any job: a missing or empty folder (an unmounted drive, or its empty mount
    point) changes the fetch parameter; Snakemake would then delete the fetch's marker, and once
    the drive is back the new marker would re-prepare and retrain the dataset for nothing."""
    for name, entry in config["datasets"].items():
        state = local_dataset_fingerprint(entry) if entry.get("source") == "local" else ""
        if state in (MISSING, EMPTY):
            what = "does not exist or is not a folder" if state == MISSING else "holds no file"
            return (
                f"config key 'datasets.{name}.path': the local data folder {entry['path']} {what} "
                "(an unmounted drive?); mount it or fix `path` and run "
                f"again (data/prepared/{name} and the runs are left as they are)"
            )
    return None
