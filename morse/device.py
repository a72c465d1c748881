"""Whether torch sees a CUDA device: the one probe shared by the Snakefile (GPU resources), the
config check (``device: cuda`` before any job) and the jobs' device choice.

Importable without torch, so that the config layer and the Snakefile stay torch-free.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path


def cuda_available(*, import_torch: bool = True) -> bool:
    """Whether torch sees a CUDA device.

    torch's own answer: in this process when torch is imported already, otherwise in a
    subprocess (the caller need not import torch). With ``import_torch=False``, an estimate
    from the installation alone, without importing torch (slow to start): a CUDA build of
    torch and an NVIDIA driver, with ``CUDA_VISIBLE_DEVICES`` not set to the empty string; the
    Snakefile plans the DAG with it, and the jobs then ask torch itself.
    """
    if not import_torch:
        return _cuda_installed()
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.cuda.is_available()
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and probe.stdout.strip() == "True"


def _cuda_installed() -> bool:
    """A CUDA build of torch and an NVIDIA driver, found without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None or os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    lib = Path(spec.origin).parent / "lib"
    cuda_build = any(lib.glob("libtorch_cuda*")) or any(lib.glob("torch_cuda*"))
    return cuda_build and (Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None)
