"""Real-dataset recipes (synapse, acdc, brats) end to end on tiny archives in the real layouts.

The archives are served from 127.0.0.1 and fetched + prepared through the code path users run
(``fetch_dataset`` / ``prepare_dataset`` with ``url`` / ``checksum`` overrides); no network.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from real_layouts import (
    ACDC_GROUPS,
    BTCV_ALL,
    FileServer,
    acdc_files,
    brats_volume,
    btcv_case,
    btcv_files,
    msd_files,
    serve,
    tar_bytes,
    write_brats_official,
    zip_bytes,
)

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import load_case, read_dataset_info
from morse.data.recipes import synapse
from morse.data.recipes.registry import fetch_dataset, prepare_dataset
from morse.data.sources.download import DownloadError


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(tmp_path: Path, name: str, entry: dict) -> tuple[Path, Path]:
    raw, out = tmp_path / "data" / "raw" / name, tmp_path / "data" / "prepared" / name
    fetch_dataset(name, entry, raw)
    prepare_dataset(name, entry, raw, out)
    return raw, out


def hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".")) if parent.is_dir() else []


# --------------------------------------------------------------------------- synapse


def test_synapse_validation_cases_come_from_the_fixed_training_cases() -> None:
    split = synapse.fixed_split(0.1, seed=0)
    assert split["test"] == list(synapse.TEST_CASES)  # the test cases never change
    assert len(split["val"]) == 3 and len(split["train"]) == 15  # round(0.1 * 30) of the 18
    assert sorted(split["train"] + split["val"]) == sorted(synapse.TRAIN_CASES)
    assert synapse.fixed_split(0.1, seed=1)["val"] != split["val"]
    assert synapse.fixed_split() == {"train": list(synapse.TRAIN_CASES), "val": [], "test": list(synapse.TEST_CASES)}
    with pytest.raises(DataError, match="val_fraction 0.9 takes all 18"):
        synapse.fixed_split(0.9)


def test_synapse_download_prepare_transunet_protocol(tmp_path: Path) -> None:
    archive = zip_bytes(btcv_files())
    with serve(FileServer(files={"RawData.zip": archive})) as srv:
        entry = {"kind": "synapse", "source": "download", "url": srv.url("RawData.zip"),
                 "checksum": sha256(archive)}
        raw, out = run(tmp_path, "synapse", entry)
    assert (tmp_path / "data" / "downloads" / "RawData.zip").is_file()  # cache kept for reuse
    assert (raw / "RawData" / "Training" / "img" / "img0001.nii.gz").is_file()
    info = read_dataset_info(out)
    assert info.spatial_dims == 2 and info.modalities == ["CT"]
    assert info.class_names == synapse.CLASS_NAMES
    assert info.splits["train"] == list(synapse.TRAIN_CASES) and len(info.splits["train"]) == 18
    assert info.splits["test"] == list(synapse.TEST_CASES) and len(info.splits["test"]) == 12
    assert info.spacing["case0005"] == pytest.approx([2.5, 0.8, 0.8])
    image, label = load_case(out, "case0005")
    raw_img, raw_lab = btcv_case(BTCV_ALL.index("0005"))
    expected = np.vectorize(synapse.BTCV_LABEL_MAP.get)(raw_lab).transpose(2, 1, 0)
    np.testing.assert_array_equal(label, expected)
    assert sorted(np.unique(label).tolist()) == list(range(9))  # aorta (8) -> 1, ..., stomach (7) -> 8
    assert label[raw_lab.transpose(2, 1, 0) == 8].tolist() == [1] * int((raw_lab == 8).sum())
    hu = raw_img.transpose(2, 1, 0).astype(np.float32)
    np.testing.assert_allclose(image[0], (np.clip(hu, -125, 275) + 125) / 400, atol=1e-6)


def test_synapse_missing_token_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("MORSE_DOWNLOAD_DIR", str(tmp_path / "dl"))
    raw = tmp_path / "raw" / "synapse"
    with pytest.raises(DownloadError) as e:
        fetch_dataset("synapse", {"kind": "synapse", "source": "download"}, raw)
    msg = str(e.value)
    assert "SYNAPSE_AUTH_TOKEN" in msg and "syn3193805" in msg and "access token" in msg
    assert "source: local" in msg
    assert not raw.exists()


def test_synapse_without_client_says_pip_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", "secret-token-value")
    monkeypatch.setenv("MORSE_DOWNLOAD_DIR", str(tmp_path / "dl"))
    monkeypatch.setitem(sys.modules, "synapseclient", None)  # import fails as if not installed
    with pytest.raises(DownloadError, match="pip install synapseclient") as e:
        fetch_dataset("synapse", {"kind": "synapse"}, tmp_path / "raw" / "synapse")
    assert "secret-token-value" not in str(e.value)


def test_synapse_missing_case_named(tmp_path: Path) -> None:
    root = tmp_path / "btcv"
    for name, data in btcv_files([c for c in BTCV_ALL if c != "0007"]).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    entry = {"kind": "synapse", "source": "local", "path": str(root), "format": "nifti"}
    raw = tmp_path / "data" / "raw" / "synapse"
    fetch_dataset("synapse", entry, raw)
    assert json.loads((raw / "LOCAL_SOURCE.json").read_text())["path"] == str(root.resolve())
    with pytest.raises(MissingDataError, match=r"case0007 of the 'train' split.*img0007") as e:
        prepare_dataset("synapse", entry, raw, tmp_path / "prep")
    assert "case0001" not in str(e.value)
    assert not (tmp_path / "prep").exists()


def test_synapse_wrong_label_values(tmp_path: Path) -> None:
    archive = zip_bytes(btcv_files(bad_label="0010"))
    with serve(FileServer(files={"RawData.zip": archive})) as srv:
        entry = {"kind": "synapse", "url": srv.url("RawData.zip"), "checksum": sha256(archive)}
        with pytest.raises(DataError, match=r"case0010.*label0010.nii.gz has values \[20\]"):
            run(tmp_path, "synapse", entry)
    assert not (tmp_path / "data" / "prepared" / "synapse").exists()
    assert hidden(tmp_path / "data" / "prepared") == []


def test_synapse_transunet_npz(tmp_path: Path) -> None:
    root = tmp_path / "Synapse"
    (root / "train_npz").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for case in ("case0005", "case0006"):
        for z in range(3):
            np.savez(root / "train_npz" / f"{case}_slice{z:03d}.npz",
                     image=rng.uniform(0, 1, (8, 8)).astype(np.float32),
                     label=np.full((8, 8), z + 1, np.float32))
    entry = {"kind": "synapse", "source": "local", "path": str(tmp_path), "format": "transunet",
             "split": {"train": ["0005"], "test": ["0006"]}}
    _, out = run(tmp_path, "synapse", entry)
    image, label = load_case(out, "case0005")
    assert image.shape == (1, 3, 8, 8) and image.min() >= 0 and image.max() <= 1
    assert label[:, 0, 0].tolist() == [1, 2, 3]  # slices stacked in slice order
    entry["split"] = {"train": ["0005"], "test": ["0001"]}
    with pytest.raises(MissingDataError, match="case0001"):
        prepare_dataset("synapse", entry, tmp_path / "data" / "raw" / "synapse", tmp_path / "p2")


# --------------------------------------------------------------------------- acdc


def test_acdc_download_prepare_frames_and_stratified_split(tmp_path: Path) -> None:
    archive = zip_bytes(acdc_files(per_group=4))
    with serve(FileServer(files={"acdc": archive})) as srv:
        entry = {"kind": "acdc", "url": srv.url("acdc"), "checksum": sha256(archive), "split": "stratified"}
        _, out = run(tmp_path, "acdc", entry)
    info = read_dataset_info(out)
    assert info.class_names == ["background", "right_ventricle", "myocardium", "left_ventricle"]
    assert len(info.cases) == 40 and "patient001_ED" in info.cases and "patient001_ES" in info.cases
    patients = {s: {c.split("_")[0] for c in info.splits[s]} for s in info.splits}
    assert [len(patients[s]) for s in ("train", "val", "test")] == [14, 2, 4]
    for s, ps in patients.items():  # both frames of a patient in the same split
        assert sorted(info.splits[s]) == sorted(f"{p}_{f}" for p in ps for f in ("ED", "ES"))
    groups = {f"patient{i + 1:03d}": ACDC_GROUPS[i // 4] for i in range(20)}
    assert len({groups[p] for p in patients["test"]}) == 4  # stratified: 4 groups, 1 patient each
    assert info.spacing["patient001_ED"] == pytest.approx([10.0, 1.5, 1.5])
    image, label = load_case(out, "patient003_ES")
    assert image.shape == (1, 3, 6, 7) and abs(float(image.mean())) < 1e-4
    assert float(image.std()) == pytest.approx(1.0, abs=1e-3)
    assert set(np.unique(label).tolist()) <= {0, 1, 2, 3}
    again = tmp_path / "again"
    prepare_dataset("acdc", entry, tmp_path / "data" / "raw" / "acdc", again)
    assert read_dataset_info(again).splits == info.splits  # deterministic


def test_acdc_corrupt_nifti_named(tmp_path: Path) -> None:
    archive = zip_bytes(acdc_files(corrupt="patient004"))
    with serve(FileServer(files={"acdc.zip": archive})) as srv:
        entry = {"kind": "acdc", "url": srv.url("acdc.zip"), "checksum": sha256(archive),
                 "split": "stratified"}  # 10 of the 100 patients
        with pytest.raises(DataError, match="patient004_frame01.nii.gz"):
            run(tmp_path, "acdc", entry)
    assert not (tmp_path / "data" / "prepared" / "acdc").exists()


def test_acdc_split_list_with_missing_patient(tmp_path: Path) -> None:
    root = tmp_path / "ACDC"
    for name, data in acdc_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    entry = {"kind": "acdc", "source": "local", "path": str(root),
             "split": {"train": ["patient001", "patient002"], "test": ["patient099"]}}
    with pytest.raises(MissingDataError, match="patient099 of the 'test' split"):
        run(tmp_path, "acdc", entry)


# --------------------------------------------------------------------------- brats


def test_brats_msd_download_prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("morse.data.sources.download.time.sleep", lambda s: None)  # no retry back-off
    archive = tar_bytes(msd_files(10))
    with serve(FileServer(files={"Task01_BrainTumour.tar": archive}, drop_once={"Task01_BrainTumour.tar"})) as srv:
        entry = {"kind": "brats", "url": srv.url("Task01_BrainTumour.tar"),
                 "checksum": "md5:" + hashlib.md5(archive).hexdigest()}
        _, out = run(tmp_path, "brats", entry)
        assert srv.requests[1].range is not None  # resumed after the dropped connection
    info = read_dataset_info(out)
    assert info.spatial_dims == 3 and info.modalities == ["FLAIR", "T1", "T1c", "T2"]
    assert info.regions == {"WT": [1, 2, 3], "TC": [2, 3], "ET": [3]}
    assert [len(info.splits[s]) for s in ("train", "val", "test")] == [7, 1, 2]
    image, label = load_case(out, "BRATS_001")
    img, lab = brats_volume(1)
    assert image.shape == (4, 4, 6, 6)
    np.testing.assert_array_equal(label, lab.transpose(2, 1, 0))
    brain = image[:, :, :, 1:]  # x = 0 is background (zeros)
    assert np.all(image[:, :, :, 0] == 0)
    np.testing.assert_allclose(brain.reshape(4, -1).mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(brain.reshape(4, -1).std(1), 1, atol=1e-3)


def test_brats_official_local_label_mapping(tmp_path: Path) -> None:
    root = tmp_path / "BraTS2021_Training_Data"
    expected = write_brats_official(root, 10)
    entry = {"kind": "brats", "source": "local", "path": str(root), "format": "brats"}
    _, out = run(tmp_path, "brats", entry)
    info = read_dataset_info(out)
    assert len(info.cases) == 10
    for case in info.cases[:3]:
        _, label = load_case(out, case)
        np.testing.assert_array_equal(label, expected[case].transpose(2, 1, 0))


def test_brats_official_wrong_label_value(tmp_path: Path) -> None:
    root = tmp_path / "brats"
    write_brats_official(root, 10)
    import nibabel as nib

    seg = root / "BraTS2021_00003" / "BraTS2021_00003_seg.nii.gz"
    data = np.asarray(nib.load(seg).dataobj).copy()
    data[1, 1, 1] = 3  # label 3 does not exist in BraTS 2017+
    nib.save(nib.Nifti1Image(data, np.eye(4)), seg)
    entry = {"kind": "brats", "source": "local", "path": str(root)}
    with pytest.raises(DataError, match=r"BraTS2021_00003_seg.nii.gz has values \[3\]"):
        run(tmp_path, "brats", entry)


def test_local_path_missing(tmp_path: Path) -> None:
    for kind in ("synapse", "acdc", "brats"):
        with pytest.raises(DownloadError, match=str(tmp_path / "nope")):
            fetch_dataset(kind, {"kind": kind, "source": "local", "path": str(tmp_path / "nope")},
                          tmp_path / "raw" / kind)
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").iterdir())
