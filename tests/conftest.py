"""Shared fixtures: a tiny phantom dataset, raw and prepared (used by data and engine tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from morse.data.phantoms.abdomen2d import generate_phantom2d
from morse.data.prepared.from_nifti import prepare_nifti_dataset

TINY = {"n_cases": 4, "n_slices": 3, "size": 32, "seed": 7}


@pytest.fixture(scope="session")
def tiny_params() -> dict:
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("phantom") / "raw"
    generate_phantom2d(raw, **TINY)
    return raw


@pytest.fixture(scope="session")
def tiny_prepared(tiny_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "phantom"
    prepare_nifti_dataset(tiny_raw, out, name="phantom", spatial_dims=2, test_fraction=0.25)
    return out


@pytest.fixture(scope="session")
def tiny_prepared_val(tiny_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny phantom with a validation split: 2 training, 1 validation, 1 test case."""
    out = tmp_path_factory.mktemp("prepared_val") / "phantom"
    prepare_nifti_dataset(tiny_raw, out, name="phantom", spatial_dims=2, test_fraction=0.25,
                          val_fraction=0.25)
    return out
