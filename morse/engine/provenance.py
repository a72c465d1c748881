"""What every run records about where and with what it ran."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path

PACKAGES = ("torch", "monai", "numpy", "scipy", "pandas", "medpy", "nibabel", "snakemake", "morse-bench")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that determine results."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(repo: Path | None = None) -> str:
    """The current git commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


SCHEDULER_VARIABLES = ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST", "SLURM_CPUS_PER_TASK")


def execution_host() -> dict[str, str]:
    """The machine a run executed on and, under SLURM, its job id, partition and CPUs."""
    host = {"hostname": socket.gethostname()}
    for variable in SCHEDULER_VARIABLES:
        if variable in os.environ:
            host[variable.lower()] = os.environ[variable]
    return host
