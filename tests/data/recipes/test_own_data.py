"""Bring-your-own-data kinds: msd (any Decathlon task), nnunet (v2 raw) and images2d, fetched and
prepared from tiny fake datasets in each layout; the Decathlon table comes from MONAI."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from own_layouts import (
    IMAGES2D_ENTRY,
    blob_volume,
    vessel_case,
    write_images2d,
    write_msd_task,
    write_nnunet,
)
from real_layouts import FileServer, serve

from morse.data.prepared.format import load_case, load_fov, mask_outside_fov, read_dataset_info
from morse.data.prepared.intensity import normalize_intensity
from morse.data.recipes.registry import fetch_dataset, prepare_dataset
from morse.data.sources.decathlon_tasks import decathlon_tasks
from morse.data.sources.download import ChecksumError
from morse.evaluation.metrics import case_metrics


def run(tmp_path: Path, name: str, entry: dict) -> Path:
    raw, out = tmp_path / "data" / "raw" / name, tmp_path / "data" / "prepared" / name
    fetch_dataset(name, entry, raw)
    prepare_dataset(name, entry, raw, out)
    return out


def tar_folder(folder: Path) -> bytes:
    archive = folder.parent / f"{folder.name}.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(folder, arcname=folder.name)
    return archive.read_bytes()


def test_decathlon_table_is_read_from_monai() -> None:
    from monai.apps import DecathlonDataset

    tasks = decathlon_tasks()
    assert len(tasks) == 10 and set(tasks) == set(DecathlonDataset.resource)
    for name, task in tasks.items():
        assert task.url == DecathlonDataset.resource[name]
        assert task.checksum == "md5:" + DecathlonDataset.md5[name]
        assert task.filename == f"{name}.tar"


@pytest.fixture
def hippocampus_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A loopback server with a Task04 tarball, entered in MONAI's table (URL and MD5)."""
    from monai.apps import DecathlonDataset

    archive = tar_folder(write_msd_task(tmp_path / "src"))
    monkeypatch.setattr("morse.data.sources.download.time.sleep", lambda s: None)
    with serve(FileServer(files={"Task04_Hippocampus.tar": archive},
                          drop_once={"Task04_Hippocampus.tar"})) as srv:
        monkeypatch.setitem(DecathlonDataset.resource, "Task04_Hippocampus", srv.url("Task04_Hippocampus.tar"))
        monkeypatch.setitem(DecathlonDataset.md5, "Task04_Hippocampus", hashlib.md5(archive).hexdigest())
        yield srv


def test_msd_download_uses_monai_table_and_prepares(tmp_path: Path, hippocampus_server: FileServer) -> None:
    out = run(tmp_path, "hippo", {"kind": "msd", "task": "Task04_Hippocampus"})
    assert hippocampus_server.requests[1].range is not None  # resumed after the dropped connection
    info = read_dataset_info(out)
    assert info.spatial_dims == 3 and info.modalities == ["MRI"]
    assert info.class_names == ["background", "Anterior", "Posterior"]
    assert [len(info.splits[s]) for s in ("train", "val", "test")] == [4, 0, 1]
    assert info.preparation["intensity"] == {"mode": "zscore", "clip_percentiles": [0.5, 99.5]}
    image, label = load_case(out, "hippo_001")
    img, lab = blob_volume(1)
    np.testing.assert_array_equal(label, lab.transpose(2, 1, 0))
    lo, hi = np.percentile(img.astype(np.float64), [0.5, 99.5])  # every voxel is nonzero here
    clipped = np.clip(img.astype(np.float64), lo, hi)
    expected = (clipped - clipped.mean()) / clipped.std()
    np.testing.assert_allclose(image[0], expected.transpose(2, 1, 0), atol=1e-4)
    assert info.spacing["hippo_001"] == [2.5, 1.0, 1.0]


def test_msd_wrong_checksum_extracts_nothing(tmp_path: Path, hippocampus_server: FileServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from monai.apps import DecathlonDataset

    monkeypatch.setitem(DecathlonDataset.md5, "Task04_Hippocampus", "0" * 32)
    with pytest.raises(ChecksumError, match="Task04_Hippocampus.tar.*expected md5:0{32}"):
        fetch_dataset("hippo", {"kind": "msd", "task": "Task04_Hippocampus"}, tmp_path / "raw" / "hippo")
    assert not (tmp_path / "raw" / "hippo").exists()


@pytest.mark.parametrize(("axis", "order", "spacing"), [
    ("auto", (0, 2, 1), [3.0, 2.0, 1.0]),  # x has the largest voxel size
    ("y", (1, 2, 0), [1.0, 2.0, 3.0]),
    ("z", (2, 1, 0), [2.0, 1.0, 3.0]),
])
def test_msd_slicewise_along_the_named_axis(tmp_path: Path, axis: str, order: tuple, spacing: list) -> None:
    write_msd_task(tmp_path / "local", zooms=(3.0, 1.0, 2.0))
    entry = {"kind": "msd", "task": "Task04_Hippocampus", "source": "local",
             "path": str(tmp_path / "local"), "spatial_dims": 2, "slice_axis": axis}
    out = run(tmp_path, "hippo2d", entry)
    info = read_dataset_info(out)
    assert info.spatial_dims == 2 and info.preparation["slice_axis"] == "xyz"[order[0]]
    assert info.spacing["hippo_002"] == spacing
    _, label = load_case(out, "hippo_002")
    np.testing.assert_array_equal(label, blob_volume(2)[1].transpose(order))


def test_nnunet_region_labels_become_evaluation_regions(tmp_path: Path) -> None:
    folder = write_nnunet(tmp_path / "nnUNet_raw")
    out = run(tmp_path, "blobs", {"kind": "nnunet", "source": "local", "path": str(folder),
                                  "split": {"test_fraction": 0.25, "seed": 1}})
    info = read_dataset_info(out)
    assert info.modalities == ["T1", "T2"] and info.spatial_dims == 3
    assert info.class_names == ["background", "label_1", "label_2", "enhancing"]
    assert info.regions == {"whole": [1, 2, 3], "core": [2, 3], "enhancing": [3]}
    assert [len(info.splits[s]) for s in ("train", "val", "test")] == [3, 0, 1]
    image, label = load_case(out, "blob_002")
    assert image.shape == (2, 16, 16, 16)
    # channel 1 is 2 x channel 0: percentile clipping and z-scoring are scale-invariant
    np.testing.assert_allclose(image[1], image[0], atol=1e-4)
    np.testing.assert_array_equal(label, blob_volume(12, (16, 16, 16), labels=3)[1].transpose(2, 1, 0))


def test_nnunet_plain_labels_and_parent_folder(tmp_path: Path) -> None:
    write_nnunet(tmp_path / "nnUNet_raw", regions=False)
    out = run(tmp_path, "blobs", {"kind": "nnunet", "source": "local",
                                  "path": str(tmp_path / "nnUNet_raw")})
    info = read_dataset_info(out)
    assert info.class_names == ["background", "outer", "inner"] and info.regions == {}


def test_images2d_fov_spacing_and_classes(tmp_path: Path) -> None:
    write_images2d(tmp_path / "eyes")
    out = run(tmp_path, "eyes", {**IMAGES2D_ENTRY, "path": str(tmp_path / "eyes")})
    info = read_dataset_info(out)
    assert info.spatial_dims == 2 and info.fov and info.modalities == ["R", "G", "B"]
    assert info.class_names == ["background", "vessel"]
    assert info.spacing["eye03"] == [1.0, 0.02, 0.02]
    image, label = load_case(out, "eye03")
    rgb, mask, fov = vessel_case(3)
    assert image.shape == (3, 1, 32, 32) and label.shape == (1, 32, 32)
    np.testing.assert_array_equal(label[0], mask // 255)
    np.testing.assert_array_equal(load_fov(out, "eye03")[0], fov > 0)
    expected = normalize_intensity(rgb.transpose(2, 0, 1)[:, None].astype(np.float32),
                                   {"mode": "zscore", "clip_percentiles": [0.5, 99.5]})
    np.testing.assert_allclose(image, expected, atol=1e-5)


def test_images2d_resize_scales_the_spacing_and_default_spacing_is_stated(tmp_path: Path) -> None:
    write_images2d(tmp_path / "eyes")
    entry = {**IMAGES2D_ENTRY, "path": str(tmp_path / "eyes"), "size": [16, 8]}
    del entry["spacing"]
    out = run(tmp_path, "eyes", entry)
    info = read_dataset_info(out)
    assert info.spacing["eye00"] == [1.0, 2.0, 4.0]  # 1 mm assumed, 32 -> 16 rows, 32 -> 8 columns
    assert "1 mm per pixel assumed" in info.preparation["spacing"]
    image, label = load_case(out, "eye00")
    assert image.shape == (3, 1, 16, 8) and set(np.unique(label)) <= {0, 1}
    mask = vessel_case(0)[1] // 255
    np.testing.assert_array_equal(label[0], mask[1::2, 2::4])  # nearest: centre samples


def test_fov_outside_is_ignored_by_the_metrics() -> None:
    _, mask, fov = vessel_case(1)
    label = (mask // 255)[None].astype(np.uint8)
    prediction = label.copy()
    prediction[0, :2, :2] = 1  # false positives in the corners, outside the circular FOV
    assert not (fov[:2, :2] > 0).any()
    before = case_metrics(prediction, label, [1.0, 1.0, 1.0], ["background", "vessel"])[0]["dice"]
    predictions = {"coarse": prediction}
    mask_outside_fov(fov[None] > 0, label, predictions)
    after = case_metrics(predictions["coarse"], label, [1.0, 1.0, 1.0], ["background", "vessel"])[0]["dice"]
    assert before < 1.0 and after == 1.0
    n = int(label.sum())
    assert before == pytest.approx(2 * n / (2 * n + 4))


def test_prepared_dataset_json_of_each_layout(tmp_path: Path) -> None:
    """The dataset.json files docs/datasets.md shows (keys present, JSON round trip)."""
    write_images2d(tmp_path / "eyes", n=4)
    out = run(tmp_path, "eyes", {**IMAGES2D_ENTRY, "path": str(tmp_path / "eyes")})
    meta = json.loads((out / "dataset.json").read_text())
    assert set(meta) == {"name", "spatial_dims", "modalities", "class_names", "splits", "spacing",
                         "regions", "fov", "preparation"}
    assert sorted((out / "fov").iterdir()) and meta["fov"] is True
