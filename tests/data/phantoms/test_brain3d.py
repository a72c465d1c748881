"""phantom3d: MSD Task01_BrainTumour raw layout, BraTS-like nested regions, recipe -> prepared."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from morse.data.errors import DataError
from morse.data.phantoms.brain3d import generate_phantom3d, phantom3d_case
from morse.data.prepared.format import load_case, read_dataset_info
from morse.data.recipes.registry import fetch_dataset, get_recipe, prepare_dataset

ENTRY = {"kind": "phantom3d", "phantom": {"n_cases": 4, "size": 24, "depth": 16, "seed": 3, "n_slices": 9},
         "split": {"test_fraction": 0.25, "seed": 0}}


@pytest.fixture(scope="module")
def raw3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("phantom3d") / "raw"
    fetch_dataset("brats_phantom", ENTRY, raw)
    return raw


def test_msd_task01_layout(raw3d: Path) -> None:
    meta = json.loads((raw3d / "dataset.json").read_text())
    assert meta["modality"] == {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    assert meta["labels"] == {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}
    assert meta["numTraining"] == 4 and len(meta["training"]) == 4
    entry = meta["training"][0]
    img = nib.load(raw3d / entry["image"])
    lab = nib.load(raw3d / entry["label"])
    assert img.shape == (24, 24, 16, 4) and img.get_data_dtype() == np.float32
    assert lab.shape == (24, 24, 16) and lab.get_data_dtype() == np.uint8
    assert img.header.get_zooms()[:3] == (1.0, 1.0, 1.0)
    assert not [p for p in raw3d.parent.iterdir() if p.name.startswith(".")]  # atomic, no leftovers


def test_nested_regions_contrasts_and_background() -> None:
    image, label = phantom3d_case(np.random.default_rng(0), 32)
    assert image.shape == (4, 32, 32, 32) and label.shape == (32, 32, 32)
    counts = np.bincount(label.ravel(), minlength=4)
    assert (counts[1:] > 0).all()
    brain = image[0] > 0
    assert (label[~brain] == 0).all() and (image[:, ~brain] == 0).all()  # skull-stripped, zero bg
    flair, t1, t1gd, t2 = image
    assert flair[label == 1].mean() > flair[brain & (label == 0)].mean()  # edema bright in FLAIR
    assert t2[label == 1].mean() > t2[brain & (label == 0)].mean() * 1.2
    assert t1gd[label == 3].mean() > t1gd[label == 2].mean() + 100  # enhancing rim in T1gd
    assert t1gd[label == 3].mean() > t1[label == 3].mean() + 100


def test_deterministic_and_fast(tmp_path: Path) -> None:
    a, la = phantom3d_case(np.random.default_rng(5), 24, 16)
    b, lb = phantom3d_case(np.random.default_rng(5), 24, 16)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    start = time.perf_counter()
    generate_phantom3d(tmp_path / "raw", n_cases=8, size=48, seed=1)
    assert time.perf_counter() - start < 20
    generate_phantom3d(tmp_path / "again", n_cases=2, size=48, seed=1)
    for case in ("BRATS_001", "BRATS_002"):  # case i depends only on (seed, i)
        x = np.asanyarray(nib.load(tmp_path / "raw" / "labelsTr" / f"{case}.nii.gz").dataobj)
        y = np.asanyarray(nib.load(tmp_path / "again" / "labelsTr" / f"{case}.nii.gz").dataobj)
        assert np.array_equal(x, y)


def test_recipe_prepares_zscore_volumes_with_brats_regions(raw3d: Path, tmp_path: Path) -> None:
    assert get_recipe("phantom3d").spatial_dims == 3
    info = prepare_dataset("brats_phantom", ENTRY, raw3d, tmp_path / "prepared")
    assert read_dataset_info(tmp_path / "prepared") == info
    assert info.spatial_dims == 3 and info.regions == {"WT": [1, 2, 3], "TC": [2, 3], "ET": [3]}
    assert info.modalities == ["FLAIR", "T1w", "t1gd", "T2w"] and info.num_classes == 4
    assert len(info.splits["test"]) == 1 and len(info.splits["train"]) == 3
    image, label = load_case(tmp_path / "prepared", info.cases[0])
    assert image.shape == (4, 16, 24, 24) and label.shape == (16, 24, 24)
    brain = image[0] != 0
    assert abs(float(image[1][brain].mean())) < 1e-3 and abs(float(image[1][brain].std()) - 1) < 1e-2
    assert info.spacing[info.cases[0]] == [1.0, 1.0, 1.0]


def test_recipe_passes_the_image_quality_knobs_to_the_generator(tmp_path: Path) -> None:
    knobs = {"noise": 0.0, "blur": 0.0, "bias": 0.0, "deform": 0.0}
    entry = {"kind": "phantom3d", "phantom": {"n_cases": 1, "size": 16, "depth": 16, "seed": 4, **knobs}}
    fetch_dataset("clean", entry, tmp_path / "clean")
    image = np.asanyarray(nib.load(tmp_path / "clean" / "imagesTr" / "BRATS_001.nii.gz").dataobj)
    expected, _ = phantom3d_case(np.random.default_rng(np.random.SeedSequence([4, 0])), 16, 16, **knobs)
    # the generator writes (X, Y, Z, C); phantom3d_case returns (C, Z, Y, X)
    assert np.array_equal(np.transpose(image, (3, 2, 1, 0)), expected)
    noisy, _ = phantom3d_case(np.random.default_rng(np.random.SeedSequence([4, 0])), 16, 16)
    assert not np.array_equal(noisy, expected)  # the defaults (noise 60, blur 1) differ


def test_recipe_takes_explicit_split_lists(raw3d: Path, tmp_path: Path) -> None:
    """`split.train/val/test` lists win over the fractions (as for every other kind); cases not
    listed are left out, and a case the generator did not write is named."""
    entry = {**ENTRY, "split": {"train": ["BRATS_001", "BRATS_003"], "test": ["BRATS_002"],
                                "test_fraction": 0.5}}
    info = prepare_dataset("brats_phantom", entry, raw3d, tmp_path / "prepared")
    assert info.splits == {"train": ["BRATS_001", "BRATS_003"], "val": [], "test": ["BRATS_002"]}
    assert sorted(info.cases) == ["BRATS_001", "BRATS_002", "BRATS_003"]
    typo = {**ENTRY, "split": {"train": ["BRATS_001"], "test": ["BRATS_009"]}}
    with pytest.raises(DataError, match=r"split 'test' names cases not found .*BRATS_009"):
        prepare_dataset("brats_phantom", typo, raw3d, tmp_path / "typo")
    assert not (tmp_path / "typo").exists()  # nothing half-written


def test_validation_volumes_join_the_val_split(tmp_path: Path) -> None:
    entry = {"kind": "phantom3d", "phantom": {"n_cases": 4, "n_val_cases": 1, "size": 16, "depth": 16, "seed": 4},
             "split": {"test_fraction": 0.5, "seed": 0}}
    fetch_dataset("v", entry, tmp_path / "raw")
    info = prepare_dataset("v", entry, tmp_path / "raw", tmp_path / "prepared")
    assert info.splits["val"] == ["BRATS_005"] and len(info.splits["test"]) == len(info.splits["train"]) == 2
