"""Where a run executed: hostname and, under SLURM, the scheduler's job facts."""

from __future__ import annotations

import socket

import pytest

from morse.engine.provenance import SCHEDULER_VARIABLES, execution_host


def test_outside_a_scheduler_only_the_hostname_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in SCHEDULER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert execution_host() == {"hostname": socket.gethostname()}


def test_under_slurm_the_job_id_partition_and_cpus_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_PARTITION", "gpu")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")
    monkeypatch.delenv("SLURM_JOB_NODELIST", raising=False)
    host = execution_host()
    assert host["slurm_job_id"] == "4242"
    assert host["slurm_job_partition"] == "gpu"
    assert host["slurm_cpus_per_task"] == "8"
    assert "slurm_job_nodelist" not in host
