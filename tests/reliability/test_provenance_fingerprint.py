"""Which runs share a machine (bit-exactness holds only there), data-folder fingerprints, and the
console summary of a failed workflow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from morse.common import different_machines, machine_groups, machine_signature
from morse.data.fingerprint import MISSING, folder_fingerprint, local_dataset_fingerprint
from morse.engine.provenance import machine_info
from morse.failures import clean_data_temporaries, failed_jobs, failure_summary, first_error_line

# --- machines ---------------------------------------------------------------------------------


def _run(variant: str, seed: int = 0, **machine: str) -> dict:
    base = {"cpu_model": "Xeon 8375C", "cpu_capability": "AVX512", "blas": "mkl", "torch": "2.13.0+cpu"}
    return {"dataset": "phantom2d", "backbone": "unet", "variant": variant, "seed": seed,
            "device": "cpu", "machine": {**base, **machine}, "host": {"hostname": f"node{seed}"}}


def test_runs_on_the_same_kind_of_machine_are_one_group_whatever_the_host() -> None:
    runs = [_run("baseline", 0), _run("morse", 1)]  # two hosts, same CPU and kernels
    assert not different_machines(runs)
    assert list(machine_groups(runs).values()) == [["phantom2d/unet/baseline/seed0", "phantom2d/unet/morse/seed1"]]


@pytest.mark.parametrize("change", [{"cpu_capability": "AVX2"}, {"cpu_model": "EPYC 7763"},
                                    {"blas": "openblas"}, {"torch": "2.12.0+cpu"}])
def test_a_different_cpu_kernel_or_library_is_another_machine(change: dict) -> None:
    runs = [_run("baseline"), _run("morse", **change)]
    assert different_machines(runs)
    groups = machine_groups(runs)
    assert sorted(map(len, groups.values())) == [1, 1]
    assert [machine_signature(r) for r in runs][0] != [machine_signature(r) for r in runs][1]


def test_a_cuda_run_differs_from_a_cpu_run_and_old_records_are_unknown() -> None:
    assert different_machines([_run("baseline"), {**_run("morse"), "device": "cuda:0 (NVIDIA A100)"}])
    old = {"dataset": "d", "backbone": "b", "variant": "v", "seed": 0, "device": "cpu"}
    assert machine_signature(old) == ("unknown", "unknown", "unknown", "unknown", "cpu")
    assert not different_machines([old, dict(old)])


def test_machine_info_records_this_cpu() -> None:
    import torch

    info = machine_info()
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["torch"] == torch.__version__ and info["cpu_model"] and info["blas"] != ""


# --- fingerprints -----------------------------------------------------------------------------


def _tree(root: Path) -> None:
    (root / "img").mkdir(parents=True)
    for name in ("a.nii.gz", "b.nii.gz"):
        (root / "img" / name).write_bytes(b"x" * 10)
        os.utime(root / "img" / name, ns=(1_000_000_000, 1_000_000_000))


def test_fingerprint_changes_with_any_file_change_and_only_then(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _tree(root)
    first = folder_fingerprint(root)
    assert folder_fingerprint(root) == first and len(first) == 16
    twin = tmp_path / "twin"
    _tree(twin)
    assert folder_fingerprint(twin) == first  # relative paths: where the folder lies does not matter
    edits = [
        lambda: (root / "img" / "a.nii.gz").write_bytes(b"y" * 11),  # size
        lambda: os.utime(root / "img" / "b.nii.gz", ns=(2_000_000_000, 2_000_000_000)),  # mtime
        lambda: (root / "img" / "c.nii.gz").write_bytes(b""),  # added
        lambda: (root / "img" / "a.nii.gz").unlink(),  # removed
        lambda: (root / "img" / "b.nii.gz").rename(root / "img" / "d.nii.gz"),  # renamed
    ]
    seen = {first}
    for edit in edits:
        edit()
        fingerprint = folder_fingerprint(root)
        assert fingerprint not in seen
        seen.add(fingerprint)
    assert folder_fingerprint(tmp_path / "nope") == MISSING


def test_only_local_datasets_are_fingerprinted(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert local_dataset_fingerprint({"kind": "synapse", "source": "local", "path": str(tmp_path)}) == \
        folder_fingerprint(tmp_path)
    assert local_dataset_fingerprint({"kind": "synapse"}) == ""
    assert local_dataset_fingerprint({"kind": "phantom2d"}) == ""


# --- the console after a failed workflow ------------------------------------------------------

SNAKEMAKE_LOG = """\
[Tue Dec  1 11:15:49 2026]
Error in rule fetch:
    message: None
    jobid: 5
    output: data/raw/syn
    log: logs/fetch/syn.log (check log file(s) for error details)
    shell:
        morse-bench fetch --name syn ...
        (command exited with non-zero exit status)
Error in rule train:
    jobid: 9
    log: logs/train/x.log (check log file(s) for error details)
Shutting down, this might take some time.
"""


def test_failed_jobs_are_read_from_the_snakemake_log() -> None:
    assert failed_jobs(SNAKEMAKE_LOG) == [("fetch", ["logs/fetch/syn.log"]), ("train", ["logs/train/x.log"])]


@pytest.mark.parametrize(("log", "line"), [
    ("loading\nmorse-bench fetch: error: dataset 'syn': local data directory /x does not exist; fix `path`\n",
     "morse-bench fetch: error: dataset 'syn': local data directory /x does not exist; fix `path`"),
    ("Traceback (most recent call last):\n  File \"x.py\", line 1\n    boom()\nZeroDivisionError: division by zero\n",
     "ZeroDivisionError: division by zero"),
    ("step 1\n/bin/bash: line 1: 123 Killed   morse-bench train\n", "/bin/bash: line 1: 123 Killed   morse-bench train"),
    ("just output\nlast words\n", "last words"),
])
def test_first_error_line_of_a_job_log(log: str, line: str) -> None:
    assert first_error_line(log) == line


def test_failure_summary_and_cleanup(tmp_path: Path) -> None:
    (tmp_path / "logs" / "fetch").mkdir(parents=True)
    (tmp_path / "logs" / "fetch" / "syn.log").write_text("morse-bench fetch: error: no such folder /x\n")
    log = tmp_path / "snakemake.log"
    log.write_text(SNAKEMAKE_LOG)
    assert failure_summary([log], tmp_path) == failure_summary(log, tmp_path) == [
        "rule fetch failed: morse-bench fetch: error: no such folder /x (log: logs/fetch/syn.log)",
        "rule train failed: (no log written) (log: logs/train/x.log)",
    ]
    raw = tmp_path / "data" / "raw"
    (raw / ".tmp-0123456789ab-syn" / "sub").mkdir(parents=True)
    (raw / "syn").mkdir()
    (raw / ".cache").mkdir()
    assert clean_data_temporaries(tmp_path) == [raw / ".tmp-0123456789ab-syn"]
    assert sorted(p.name for p in raw.iterdir()) == [".cache", "syn"]
