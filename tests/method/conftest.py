"""Fixtures for the method tests."""

from __future__ import annotations

import pytest
from method_toys import ToyBackbone


@pytest.fixture
def toy_backbone():
    """Factory: toy_backbone(spatial_dims, num_classes=3, in_channels=1)."""

    def make(spatial_dims: int, num_classes: int = 3, in_channels: int = 1) -> ToyBackbone:
        return ToyBackbone(in_channels, num_classes, spatial_dims)

    return make
