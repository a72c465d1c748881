"""Fixtures for the method tests."""

from __future__ import annotations

import os

import pytest
import torch
from method_toys import ToyBackbone


@pytest.fixture
def toy_backbone():
    """Factory: toy_backbone(spatial_dims, num_classes=3, in_channels=1)."""

    def make(spatial_dims: int, num_classes: int = 3, in_channels: int = 1) -> ToyBackbone:
        return ToyBackbone(in_channels, num_classes, spatial_dims)

    return make


@pytest.fixture(scope="session")
def device() -> torch.device:
    """Where the equivalence and golden tests run: ``MORSE_TEST_DEVICE`` (default cpu;
    benchmarks/gpu_check.sh sets cuda). On CUDA, TF32 is switched off so that float32 means
    float32 and the round-off tolerances hold."""
    name = os.environ.get("MORSE_TEST_DEVICE", "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            pytest.fail(f"MORSE_TEST_DEVICE={name} but no CUDA GPU is available; unset it")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return torch.device(name)
