"""The one CUDA probe (morse.device.cuda_available) behind the Snakefile's GPU resources, the
config's device check and the jobs' device choice."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from morse.config import ConfigError, check_device
from morse.device import cuda_available
from morse.engine.device import select_device


def test_in_a_torch_process_the_probe_is_torchs_own_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    for answer in (True, False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda answer=answer: answer)
        assert cuda_available() is answer
        assert select_device("auto").type == ("cuda" if answer else "cpu")


def test_the_config_check_and_the_jobs_ask_the_same_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"device": "cuda"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="torch finds no CUDA device"):
        check_device(config)
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        select_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_device(config)
    assert select_device("cuda").type == "cuda"


def test_without_torch_the_probe_asks_torch_in_a_subprocess() -> None:
    code = ("import sys\nfrom morse.device import cuda_available\nanswer = cuda_available()\n"
            "assert 'torch' not in sys.modules\nprint(answer)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(torch.cuda.is_available())


def test_the_installation_estimate_imports_no_torch_and_honours_an_empty_device_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = ("import sys\nfrom morse.device import cuda_available\n"
            "answer = cuda_available(import_torch=False)\n"
            "assert 'torch' not in sys.modules\nprint(answer)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("True", "False")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_available(import_torch=False) is False
