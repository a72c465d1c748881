"""What a run records about its machine (tests/test_common_machines.py groups such records),
data-folder fingerprints, and the console summary of a failed workflow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from morse.common import MACHINE_KEYS
from morse.data.sources.fingerprint import (
    EMPTY,
    MISSING,
    folder_fingerprint,
    local_dataset_fingerprint,
)
from morse.engine.provenance import machine_info
from morse.failures import clean_data_temporaries, failed_jobs, failure_summary, first_error_line

# --- machines ---------------------------------------------------------------------------------


def test_machine_info_records_this_cpu() -> None:
    import torch

    info = machine_info()
    assert set(MACHINE_KEYS) <= set(info)  # what morse.common.machine_signature reads
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
    (tmp_path / "mount" / "sub").mkdir(parents=True)  # folders without a file: an empty mount point
    assert folder_fingerprint(tmp_path / "mount") == EMPTY


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
