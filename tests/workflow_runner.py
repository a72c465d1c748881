"""Run the Snakemake workflow in a scratch folder exactly as a user would (shared by the
end-to-end, resume, add-a-backbone and SLURM tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = ROOT / "config" / "tiny.yaml"


def workflow_env(**extra: str) -> dict[str, str]:
    """This interpreter's environment with its bin folder (``morse-bench``) first on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}


def make_workdir(workdir: Path) -> Path:
    """A working folder with the config files the workflow reads besides the config itself."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "reference_results.csv", workdir / "config")
    return workdir


def snakemake_command(workdir: Path, *args: str, cores: int | None = 2) -> list[str]:
    """``python -m snakemake`` on the repository's Snakefile in ``workdir``.
    Put targets before ``--configfile`` (which takes every following word as a config file)."""
    cores_args = ["--cores", str(cores)] if cores else []
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
            "--directory", str(workdir), *cores_args, *args]


def run_snakemake(workdir: Path, *args: str, cores: int | None = 2, timeout: float = 900,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run Snakemake to completion, capturing its output."""
    return subprocess.run(snakemake_command(workdir, *args, cores=cores), capture_output=True,
                          text=True, env=env or workflow_env(), timeout=timeout)
