"""What every run records about where and with what it ran."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
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


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, str]:
    """What decides which floating-point kernels a CPU run takes: CPU model, the vector
    instruction set torch dispatches to (``torch.backends.cpu.get_cpu_capability()``, e.g. AVX2,
    AVX512) and the math libraries torch was built with (BLAS, oneDNN/MKL-DNN, MKL); runs are
    grouped by machine with :func:`morse.common.machine_signature`."""
    import torch

    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
    libraries = [line.strip(" -") for line in config.splitlines()
                 if re.search(r"Math Kernel Library|MKL-DNN|OpenBLAS|oneDNN", line)]
    return {
        "cpu_model": cpu_model(),
        "architecture": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": blas.group(1) if blas else "unknown",
        "math_libraries": "; ".join(libraries) or "unknown",
        "mkl": str(torch.backends.mkl.is_available()),
        "mkldnn": str(torch.backends.mkldnn.is_available()),
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),  # intra-op threads in use (part of the identity on CPU)
    }
