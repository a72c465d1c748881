"""Phantom generator: determinism, content (classes, touching organs), MSD layout, spacing."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from morse.data.phantoms.abdomen2d import PHANTOM_CLASSES, generate_phantom2d, phantom_case


def _case(seed: int, **kw) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    return phantom_case(np.random.default_rng(seed), 4, 48, **kw)


def test_phantom_case_deterministic_and_seed_dependent() -> None:
    a_img, a_lab, a_sp = _case(3)
    b_img, b_lab, b_sp = _case(3)
    c_img, c_lab, _ = _case(4)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    assert a_sp == b_sp
    assert not np.array_equal(a_img, c_img)
    assert not np.array_equal(a_lab, c_lab)


def test_generate_is_deterministic_on_disk(
    tmp_path: Path, tiny_raw: Path, tiny_params: dict
) -> None:
    again = tmp_path / "again"
    other = tmp_path / "other"
    generate_phantom2d(again, **tiny_params)
    generate_phantom2d(other, **{**tiny_params, "seed": tiny_params["seed"] + 1})
    for sub in ("imagesTr", "labelsTr"):
        name = f"{sub}/phantom_000.nii.gz"
        first = np.asarray(nib.load(tiny_raw / name).dataobj)
        np.testing.assert_array_equal(first, np.asarray(nib.load(again / name).dataobj))
        assert not np.array_equal(first, np.asarray(nib.load(other / name).dataobj))


def test_all_classes_present_and_types() -> None:
    img, lab, _ = phantom_case(np.random.default_rng(0), 6, 64)
    assert img.dtype == np.float32 and lab.dtype == np.uint8
    assert img.shape == lab.shape == (6, 64, 64)
    assert set(np.unique(lab).tolist()) == set(range(len(PHANTOM_CLASSES)))
    # every organ in every slice of the central part of the case
    for z in (2, 3):
        assert set(np.unique(lab[z]).tolist()) == set(range(9)), z


def test_hounsfield_like_intensities() -> None:
    img, lab, _ = _case(1, noise=0.0, texture=0.0, bias=0.0, blur=0.0)
    assert img[:, 0, 0].max() == pytest.approx(-1000.0)  # air in the corner
    for c in range(1, 9):
        mean = float(img[lab == c].mean())
        assert -125.0 < mean < 275.0, (PHANTOM_CLASSES[c], mean)


def test_neighbouring_organs_touch() -> None:
    _, lab, _ = _case(2)
    pairs = set()
    for a, b in ((lab[:, 1:, :], lab[:, :-1, :]), (lab[:, :, 1:], lab[:, :, :-1])):
        m = (a != b) & (a > 0) & (b > 0)
        pairs |= {tuple(sorted(p)) for p in zip(a[m].tolist(), b[m].tolist(), strict=True)}
    assert len(pairs) >= 3, pairs
    liver, gallbladder = PHANTOM_CLASSES.index("liver"), PHANTOM_CLASSES.index("gallbladder")
    assert (gallbladder, liver) in pairs


def test_shapes_vary_smoothly_across_slices() -> None:
    _, lab, _ = phantom_case(np.random.default_rng(5), 8, 64)
    liver = PHANTOM_CLASSES.index("liver")
    m = lab == liver
    overlap = [(m[z] & m[z + 1]).sum() / max(1, (m[z] | m[z + 1]).sum()) for z in range(7)]
    assert min(overlap) > 0.7  # neighbouring slices look alike
    assert not np.array_equal(m[0], m[-1])  # but the organ does change along the case


def test_msd_layout_and_spacing(tiny_raw: Path) -> None:
    meta = json.loads((tiny_raw / "dataset.json").read_text())
    assert meta["modality"] == {"0": "CT"}
    assert meta["labels"]["0"] == "background" and len(meta["labels"]) == 9
    assert meta["numTraining"] == len(meta["training"]) == 4
    spacings = set()
    for entry in meta["training"]:
        img = nib.load(tiny_raw / entry["image"])
        lab = nib.load(tiny_raw / entry["label"])
        assert img.shape == lab.shape == (32, 32, 3)  # NIfTI order X, Y, Z
        assert img.get_data_dtype() == np.float32 and lab.get_data_dtype() == np.uint8
        sx, sy, sz = (float(z) for z in img.header.get_zooms())
        assert 0.6 <= sx <= 1.0 and sx == sy and 2.5 <= sz <= 5.0
        np.testing.assert_allclose(np.diag(img.affine)[:3], [sx, sy, sz], rtol=1e-6)
        spacings.add((sx, sz))
    assert len(spacings) == 4  # per-case spacing
    assert not [p for p in tiny_raw.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_phantom2d_recipe_takes_explicit_split_lists(tiny_raw: Path, tmp_path: Path) -> None:
    from morse.data.recipes.registry import prepare_dataset

    entry = {"kind": "phantom2d", "split": {"train": ["phantom_000", "phantom_002"],
                                            "val": ["phantom_001"], "test": ["phantom_003"]}}
    info = prepare_dataset("phantom", entry, tiny_raw, tmp_path / "prepared")
    assert info.splits == {"train": ["phantom_000", "phantom_002"], "val": ["phantom_001"],
                           "test": ["phantom_003"]}
    fractions = prepare_dataset("phantom", {"kind": "phantom2d", "split": {"test_fraction": 0.5}},
                                tiny_raw, tmp_path / "fractions")
    assert len(fractions.splits["test"]) == len(fractions.cases) // 2  # fractions still work


def test_validation_cases_are_generated_after_the_split_cases_and_change_neither(tmp_path: Path) -> None:
    """``n_val_cases`` extra cases become the val split; train and test stay exactly as without them."""
    from morse.data.recipes.registry import fetch_dataset, prepare_dataset

    base = {"kind": "phantom2d", "phantom": {"n_cases": 6, "n_slices": 1, "size": 32, "seed": 3},
            "split": {"test_fraction": 0.5, "seed": 0}}
    with_val = {**base, "phantom": {**base["phantom"], "n_val_cases": 2}}
    for name, entry in (("plain", base), ("with_val", with_val)):
        fetch_dataset("p", entry, tmp_path / name / "raw")
        prepare_dataset("p", entry, tmp_path / name / "raw", tmp_path / name / "prepared")
    plain = json.loads((tmp_path / "plain" / "prepared" / "dataset.json").read_text())["splits"]
    extra = json.loads((tmp_path / "with_val" / "prepared" / "dataset.json").read_text())["splits"]
    assert extra["train"] == plain["train"] and extra["test"] == plain["test"] and len(plain["test"]) == 3
    assert plain["val"] == [] and extra["val"] == ["phantom_006", "phantom_007"]
    for case in plain["train"] + plain["test"]:  # the same images, bit for bit
        a = np.load(tmp_path / "plain" / "prepared" / "images" / f"{case}.npy")
        b = np.load(tmp_path / "with_val" / "prepared" / "images" / f"{case}.npy")
        assert np.array_equal(a, b)
