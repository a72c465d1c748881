"""Fixtures of the reliability tests (helpers live in tests/training_runs.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def prepared_copy(tiny_prepared: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the tiny prepared phantom (to corrupt)."""
    out = tmp_path / "prepared_copy"
    shutil.copytree(tiny_prepared, out)
    return out
