"""benchmarks/gpu_check.sh without a GPU: it says so, writes nothing and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_without_a_gpu_says_so_and_exits_0(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable,
           "GPU_CHECK_OUT": str(tmp_path / "gpu")}
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True,
        text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "no CUDA GPU available" in result.stdout
    assert "equivalence tests" not in result.stdout  # nothing was started
    assert not (tmp_path / "gpu").exists()


def test_gpu_check_is_valid_bash_and_names_every_step():
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")]).returncode == 0
    for needle in ("MORSE_TEST_DEVICE=cuda", "--amp", "--compile", "--channels-last",
                   "test_method_golden.py", "test_method_equivalence.py",
                   "test_method_channels_last.py", "exit $status"):
        assert needle in script, needle
