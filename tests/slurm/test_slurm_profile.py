"""The SLURM profile, for real: the tiny workflow submitted through `workflow/profiles/slurm`
to a running SLURM cluster gives the same results, bit for bit, as the local run.

Runs only under ``make test-slurm`` (which starts a one-node cluster on this machine with
``scripts/slurm_localhost.sh``) or with ``MORSE_TEST_SLURM=1`` against a cluster of your own:
it submits jobs, so it never runs as part of ``make test`` by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from training_runs import assert_same_weights
from workflow_runner import ROOT, TINY_CONFIG, make_workdir, run_snakemake

PROFILE = ROOT / "workflow" / "profiles" / "slurm"
# small enough for one test node (the profile asks for 8-32 GB, sized for paper-scale jobs)
TEST_MEMORY_MB = 1500
WORKFLOW_RULES = ("fetch", "prepare", "pretrain", "train", "evaluate", "evaluate_budget", "aggregate",
                  "aggregate_budget", "compare", "verdicts", "report", "index")

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.environ.get("MORSE_TEST_SLURM") != "1",
                       reason="submits SLURM jobs: run `make test-slurm` (or set MORSE_TEST_SLURM=1)"),
]


def _scaled_profile(out: Path) -> Path:
    """The repository's SLURM profile with only the memory requests capped to fit a test node;
    executor, jobs, retries, runtimes and per-rule structure are kept as they are."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    profile["default-resources"]["mem_mb"] = min(profile["default-resources"]["mem_mb"], TEST_MEMORY_MB)
    for resources in profile["set-resources"].values():
        if "mem_mb" in resources:
            resources["mem_mb"] = min(resources["mem_mb"], TEST_MEMORY_MB)
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return out


def _cluster_is_up() -> None:
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    assert sinfo.returncode == 0 and sinfo.stdout.strip(), (
        f"no SLURM cluster answers (sinfo: {sinfo.stderr.strip() or 'no nodes'}); "
        "start one with `scripts/slurm_localhost.sh up` and export SLURM_CONF")


@pytest.fixture(scope="module")
def local_and_slurm_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    _cluster_is_up()
    local = make_workdir(tmp_path_factory.mktemp("local"))
    result = run_snakemake(local, "--configfile", str(TINY_CONFIG))
    assert result.returncode == 0, result.stderr[-4000:]

    on_slurm = make_workdir(tmp_path_factory.mktemp("slurm"))
    profile = _scaled_profile(tmp_path_factory.mktemp("profile") / "slurm")
    result = run_snakemake(
        on_slurm, "--profile", str(profile),
        # a test cluster has no accounting database (no sacct): finished jobs stay visible to
        # squeue for MinJobAge = 1 h; and poll every few seconds instead of every 40 s
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
        "--configfile", str(TINY_CONFIG), cores=None, timeout=1500,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return local, on_slurm


def _squeue(*args: str) -> list[str]:
    out = subprocess.run(["squeue", "--states=all", "--noheader", *args], capture_output=True,
                         text=True, check=True).stdout
    return out.split()


def test_every_job_of_the_workflow_ran_as_a_completed_slurm_job(
    local_and_slurm_runs: tuple[Path, Path],
) -> None:
    _, on_slurm = local_and_slurm_runs
    runs = sorted((on_slurm / "results" / "tiny").glob("*/*/*/seed*/run.json"))
    assert len(runs) == 3  # pretrain, baseline, morse
    job_ids = {json.loads(path.read_text())["host"].get("slurm_job_id") for path in runs}
    assert None not in job_ids and len(job_ids) == len(runs), job_ids  # one SLURM job each
    # the executor names every job of one workflow run by the run's id and comments it with the rule
    (run_name,) = {_squeue("--jobs", job_id, "--format=%j")[0] for job_id in job_ids}
    jobs = _squeue("--name", run_name, "--format=%k:%T")
    rules = {comment.split(":")[0].removeprefix("rule_").split("_wildcards_")[0] for comment in jobs}
    assert rules == set(WORKFLOW_RULES)
    assert all(job.endswith(":COMPLETED") for job in jobs), jobs


@pytest.mark.parametrize("table", ["metrics.csv", "comparisons.csv"])
def test_slurm_results_equal_the_local_run_bit_for_bit(
    local_and_slurm_runs: tuple[Path, Path], table: str
) -> None:
    local, on_slurm = local_and_slurm_runs
    expected = pd.read_csv(local / "results" / "tiny" / table)
    observed = pd.read_csv(on_slurm / "results" / "tiny" / table)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(observed, expected, check_exact=True)


def test_slurm_weights_equal_the_local_run(local_and_slurm_runs: tuple[Path, Path]) -> None:
    local, on_slurm = local_and_slurm_runs
    models = sorted((local / "results" / "tiny").rglob("model.pt"))
    assert len(models) == 3
    for model in models:
        assert_same_weights(model, on_slurm / model.relative_to(local))

