"""Fixtures of the configuration tests."""

from __future__ import annotations

import pytest
import yaml

from morse.config import REPO_ROOT


@pytest.fixture()
def tiny() -> dict:
    """The tiny experiment's config as read from YAML (before validation)."""
    return yaml.safe_load((REPO_ROOT / "config" / "tiny.yaml").read_text())
