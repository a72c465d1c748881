"""The prepare step: NIfTI round trip, splits, intensity normalisation, clear errors on bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import load_case, read_dataset_info
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.prepared.intensity import normalize_intensity
from morse.data.prepared.splits import split_cases

CLASSES = {"0": "background", "1": "organ", "2": "vessel"}


def _write_raw(
    raw: Path, cases: dict[str, tuple[np.ndarray, np.ndarray]], zooms=(0.7, 0.8, 3.0)
) -> None:
    """Hand-built MSD raw dir; arrays are given in NIfTI order (X, Y, Z)."""
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    training = []
    for case, (img, lab) in cases.items():
        affine = np.diag([*zooms, 1.0])
        nib.save(
            nib.Nifti1Image(img.astype(np.float32), affine), raw / "imagesTr" / f"{case}.nii.gz"
        )
        nib.save(nib.Nifti1Image(lab.astype(np.uint8), affine), raw / "labelsTr" / f"{case}.nii.gz")
        training.append(
            {"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"}
        )
    meta = {
        "name": "T",
        "modality": {"0": "CT"},
        "labels": CLASSES,
        "numTraining": len(cases),
        "training": training,
    }
    (raw / "dataset.json").write_text(json.dumps(meta))


def _volume(shape=(5, 4, 3), seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-300, 400, shape), rng.integers(0, 3, shape)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_round_trip_transpose_spacing_and_window(tmp_path: Path) -> None:
    img, lab = _volume()
    img[0, 0, 0], img[1, 0, 0], img[2, 0, 0], img[3, 0, 0], img[4, 0, 0] = -200, -125, 0, 75, 400
    raw = tmp_path / "raw"
    _write_raw(
        raw, {"a": (img, lab), "b": _volume(seed=1), "c": _volume(seed=2), "d": _volume(seed=3)}
    )
    out = tmp_path / "prep"
    info = prepare_nifti_dataset(
        raw, out, name="T", spatial_dims=3, splits={"train": ["a", "b"], "test": ["c"]}
    )
    assert info.class_names == ["background", "organ", "vessel"]
    assert info.modalities == ["CT"]
    assert info.splits == {"train": ["a", "b"], "val": [], "test": ["c"]}
    assert sorted(p.name for p in (out / "images").iterdir()) == [
        "a.npy",
        "b.npy",
        "c.npy",
    ]  # d skipped
    assert info.spacing["a"] == pytest.approx([3.0, 0.8, 0.7])  # (z, y, x)
    assert read_dataset_info(out) == info

    image, label = load_case(out, "a")
    assert isinstance(image, np.memmap)
    assert image.shape == (1, 3, 4, 5) and image.dtype == np.float32
    assert label.shape == (3, 4, 5) and label.dtype == np.uint8
    x, y, z = 4, 2, 1
    np.testing.assert_array_equal(label[z, y, x], lab[x, y, z])
    expected = (np.clip(img[x, y, z], -125, 275) + 125) / 400
    assert image[0, z, y, x] == pytest.approx(expected, abs=1e-6)
    # hand-computed window values: -200 -> 0, -125 -> 0, 0 -> 0.3125, 75 -> 0.5, 400 -> 1
    np.testing.assert_allclose(image[0, 0, 0, :5], [0.0, 0.0, 0.3125, 0.5, 1.0], atol=1e-6)
    np.testing.assert_array_equal(label, np.transpose(lab, (2, 1, 0)))


def test_phantom_prepared(tiny_prepared: Path) -> None:
    info = read_dataset_info(tiny_prepared)
    assert info.spatial_dims == 2 and len(info.class_names) == 9
    assert len(info.splits["test"]) == 1 and len(info.splits["train"]) == 3
    for case in info.cases:
        image, label = load_case(tiny_prepared, case, mmap=False)
        assert image.shape == (1, 3, 32, 32) and label.shape == (3, 32, 32)
        assert image.min() >= 0.0 and image.max() <= 1.0
        z, y, x = info.spacing[case]
        assert 2.5 <= z <= 5.0 and 0.6 <= y == x <= 1.0


def test_random_split_deterministic_and_disjoint() -> None:
    cases = [f"c{i:02d}" for i in range(20)]
    a = split_cases(cases, test_fraction=0.25, val_fraction=0.1, split_seed=3)
    assert a == split_cases(
        list(reversed(cases)), test_fraction=0.25, val_fraction=0.1, split_seed=3
    )
    assert a != split_cases(cases, test_fraction=0.25, val_fraction=0.1, split_seed=4)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (13, 2, 5)
    assert sorted(a["train"] + a["val"] + a["test"]) == cases


def test_zscore_over_nonzero_voxels() -> None:
    image = np.zeros((2, 1, 2, 3), dtype=np.float32)
    image[0, 0, 0, :2] = [1.0, 3.0]
    image[1] = 5.0
    out = normalize_intensity(image, {"mode": "zscore"})
    np.testing.assert_allclose(out[0, 0, 0, :2], [-1.0, 1.0], atol=1e-6)
    assert np.count_nonzero(out[0]) == 2  # zero (background) voxels stay zero
    np.testing.assert_allclose(out[1], 0.0, atol=1e-6)  # constant channel -> 0, no division by 0


def _assert_fails(raw: Path, out: Path, match: str, exc: type[Exception] = DataError, **kw) -> str:
    kw.setdefault("splits", {"train": ["a"], "test": ["b"]})
    with pytest.raises(exc, match=match) as info:
        prepare_nifti_dataset(raw, out, name="T", spatial_dims=2, **kw)
    assert isinstance(info.value, ValueError)
    assert not out.exists()
    assert _leftovers(out.parent) == []
    return str(info.value)


def test_corrupt_gzip_names_the_file(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _write_raw(raw, {"a": _volume(), "b": _volume(seed=1)})
    bad = raw / "imagesTr" / "b.nii.gz"
    bad.write_bytes(bad.read_bytes()[:-40])  # truncated download
    _assert_fails(raw, tmp_path / "prep", match=r"b\.nii\.gz")
    bad.write_bytes(gzip.compress(b"not a nifti at all"))
    _assert_fails(raw, tmp_path / "prep", match=r"b\.nii\.gz")


def test_shape_mismatch_names_case_and_shapes(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    img, _ = _volume()
    _, lab = _volume(shape=(5, 4, 2))
    _write_raw(raw, {"a": _volume(), "b": (img, lab)})
    msg = _assert_fails(raw, tmp_path / "prep", match="'b'")
    assert "(5, 4, 3)" in msg and "(5, 4, 2)" in msg


def test_label_out_of_range(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    img, lab = _volume()
    lab[0, 0, 0] = 7
    _write_raw(raw, {"a": (img, lab), "b": _volume(seed=1)})
    msg = _assert_fails(raw, tmp_path / "prep", match="'a'")
    assert "[7]" in msg and "0..2" in msg


def test_empty_test_split(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _write_raw(raw, {"a": _volume(), "b": _volume(seed=1)})
    _assert_fails(
        raw, tmp_path / "prep", match=f"empty test split for {raw}", splits=None, test_fraction=0.0
    )
    _assert_fails(raw, tmp_path / "prep", match="empty test split", splits={"train": ["a", "b"]})


def test_unknown_case_in_explicit_split(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _write_raw(raw, {"a": _volume(), "b": _volume(seed=1)})
    _assert_fails(raw, tmp_path / "prep", match="zzz", splits={"train": ["a"], "test": ["zzz"]})


def test_missing_raw_dir_says_run_fetch(tmp_path: Path) -> None:
    msg = _assert_fails(tmp_path / "nope", tmp_path / "prep", match="fetch", exc=MissingDataError)
    assert str(tmp_path / "nope") in msg


def test_failure_keeps_previous_output(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _write_raw(raw, {"a": _volume(), "b": _volume(seed=1)})
    out = tmp_path / "prep"
    prepare_nifti_dataset(
        raw, out, name="T", spatial_dims=2, splits={"train": ["a"], "test": ["b"]}
    )
    before = (out / "dataset.json").read_text()
    with pytest.raises(DataError, match="outside the class map"):  # labels go up to 2
        prepare_nifti_dataset(
            raw,
            out,
            name="T",
            spatial_dims=2,
            class_names=["background", "organ"],
            splits={"train": ["a"], "test": ["b"]},
        )
    assert (out / "dataset.json").read_text() == before
    assert _leftovers(tmp_path) == []


def test_multichannel_msd_image(tmp_path: Path) -> None:
    """MSD 4D images (X, Y, Z, C), e.g. BraTS, become (C, Z, Y, X)."""
    raw = tmp_path / "raw"
    img = np.random.default_rng(0).uniform(1, 2, (5, 4, 3, 2))
    img[..., 1] += 10
    _write_raw(raw, {"a": (img, _volume()[1]), "b": (img, _volume(seed=1)[1])})
    meta = json.loads((raw / "dataset.json").read_text())
    meta["modality"] = {"0": "FLAIR", "1": "T1"}
    (raw / "dataset.json").write_text(json.dumps(meta))
    out = tmp_path / "prep"
    info = prepare_nifti_dataset(
        raw,
        out,
        name="T",
        spatial_dims=3,
        splits={"train": ["a"], "test": ["b"]},
        intensity={"mode": "zscore"},
    )
    assert info.modalities == ["FLAIR", "T1"]
    image, _ = load_case(out, "a")
    assert image.shape == (2, 3, 4, 5)
    expected = (img[4, 2, 1, 1] - img[..., 1].mean()) / img[..., 1].std()
    assert image[1, 1, 2, 4] == pytest.approx(expected, rel=1e-4)
