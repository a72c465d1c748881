"""The checks before any training, one bad input each: the message names the file and the fix,
and nothing is left under data/prepared/<name> (nor a temporary sibling)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from own_layouts import (
    IMAGES2D_ENTRY,
    blob_volume,
    save_nifti,
    write_images2d,
    write_msd_task,
    write_nnunet,
)
from PIL import Image

from morse.data.errors import DataError
from morse.data.recipes.registry import fetch_dataset, prepare_dataset


def fails(tmp_path: Path, entry: dict, match: str, stage: str = "prepare") -> str:
    raw, out = tmp_path / "data" / "raw" / "ds", tmp_path / "data" / "prepared" / "ds"
    with pytest.raises(ValueError, match=match) as error:
        fetch_dataset("ds", entry, raw)
        assert stage == "prepare", "fetch should have failed"
        prepare_dataset("ds", entry, raw, out)
    assert not out.exists()
    parent = out.parent
    assert not parent.exists() or not list(parent.iterdir())
    return str(error.value)


def nnunet(tmp_path: Path, **kw) -> tuple[Path, dict]:
    folder = write_nnunet(tmp_path / "raw_nnunet", **kw)
    return folder, {"kind": "nnunet", "source": "local", "path": str(folder)}


def images(tmp_path: Path, **extra) -> tuple[Path, dict]:
    root = write_images2d(tmp_path / "eyes", n=4)
    return root, {**IMAGES2D_ENTRY, "path": str(root), **extra}


def test_image_without_label(tmp_path: Path) -> None:
    folder, entry = nnunet(tmp_path)
    (folder / "labelsTr" / "blob_001.nii.gz").unlink()
    (folder / "dataset.json").write_text(
        json.dumps({**json.loads((folder / "dataset.json").read_text()), "numTraining": 3}))
    msg = fails(tmp_path, entry, "without a label", stage="fetch")
    assert "blob_001" in msg and "imagesTs" in msg


def test_label_without_image_channel(tmp_path: Path) -> None:
    folder, entry = nnunet(tmp_path)
    (folder / "imagesTr" / "blob_002_0001.nii.gz").unlink()
    msg = fails(tmp_path, entry, r"blob_002_0001\.nii\.gz", stage="fetch")
    assert "2 channel(s)" in msg


def test_image_without_mask(tmp_path: Path) -> None:
    root, entry = images(tmp_path)
    (root / "masks" / "eye02_mask.png").unlink()
    fails(tmp_path, entry, r"eye02\.png has no mask .*eye02_mask\.png", stage="fetch")


def test_shape_mismatch_2d(tmp_path: Path) -> None:
    root, entry = images(tmp_path)
    Image.fromarray(np.zeros((30, 32), np.uint8)).save(root / "masks" / "eye01_mask.png")
    msg = fails(tmp_path, entry, r"eye01_mask\.png is 30 x 32 pixels")
    assert "eye01.png is 32 x 32" in msg


def test_fov_shape_mismatch(tmp_path: Path) -> None:
    root, entry = images(tmp_path)
    Image.fromarray(np.zeros((32, 31), np.uint8)).save(root / "fov" / "eye00_fov.png")
    fails(tmp_path, entry, r"field-of-view mask .*eye00_fov\.png is 32 x 31")


def test_affine_mismatch(tmp_path: Path) -> None:
    folder = write_msd_task(tmp_path / "local")
    _, lab = blob_volume(3)
    save_nifti(folder / "labelsTr" / "hippo_003.nii.gz", lab, offset=(0.0, 5.0, 0.0))
    entry = {"kind": "msd", "task": "Task04_Hippocampus", "source": "local", "path": str(folder)}
    msg = fails(tmp_path, entry, r"labelsTr/hippo_003\.nii\.gz is not on the voxel grid")
    assert "hippo_003" in msg and "resample" in msg


def test_channel_count_differs_from_modalities(tmp_path: Path) -> None:
    folder = write_msd_task(tmp_path / "local")
    meta = json.loads((folder / "dataset.json").read_text())
    meta["modality"] = {"0": "T1", "1": "T2"}
    (folder / "dataset.json").write_text(json.dumps(meta))
    entry = {"kind": "msd", "task": "Task04_Hippocampus", "source": "local", "path": str(folder)}
    fails(tmp_path, entry, r"hippo_00\d\.nii\.gz has 1 channel\(s\) but the dataset declares 2 modalities")


def test_grey_image_among_rgb(tmp_path: Path) -> None:
    root, entry = images(tmp_path)
    Image.fromarray(np.zeros((32, 32), np.uint8), "L").save(root / "images" / "eye03.png")
    fails(tmp_path, entry, r"eye03\.png has 1 channel\(s\) but the dataset declares 3 modalities")


def test_mask_value_not_in_classes(tmp_path: Path) -> None:
    root, entry = images(tmp_path)
    mask = np.zeros((32, 32), np.uint8)
    mask[3, 3] = 128
    Image.fromarray(mask).save(root / "masks" / "eye01_mask.png")
    msg = fails(tmp_path, entry, r"eye01_mask\.png has values \[128\] that are not in `classes`")
    assert "[0, 255]" in msg


def test_nifti_label_value_outside_the_map(tmp_path: Path) -> None:
    folder, entry = nnunet(tmp_path, regions=False)
    _, lab = blob_volume(11, (16, 16, 16))
    lab[0, 0, 0] = 5
    save_nifti(folder / "labelsTr" / "blob_001.nii.gz", lab)
    fails(tmp_path, entry, r"blob_001'.*blob_001\.nii\.gz has values \[5\] outside the class map")


def test_nonfinite_spacing(tmp_path: Path) -> None:
    """nibabel turns zero voxel sizes into 1 on reading, but a NaN in pixdim comes through."""
    import nibabel as nib

    folder = write_msd_task(tmp_path / "local")
    img, lab = blob_volume(0)
    for sub, arr in (("imagesTr", img), ("labelsTr", lab)):
        header = nib.Nifti1Header()
        header.set_data_shape(arr.shape)
        header["pixdim"][1:4] = [1.0, np.nan, 2.5]
        nib.save(nib.Nifti1Image(arr, None, header), folder / sub / "hippo_000.nii.gz")
    entry = {"kind": "msd", "task": "Task04_Hippocampus", "source": "local", "path": str(folder)}
    fails(tmp_path, entry, r"hippo_000\.nii\.gz has voxel sizes \[1\.0, nan, 2\.5\].*positive and finite")


def test_images2d_nonpositive_spacing(tmp_path: Path) -> None:
    _, entry = images(tmp_path, spacing=[0.02, -1])
    fails(tmp_path, entry, r"`spacing` must be positive and finite")


def test_case_in_two_splits(tmp_path: Path) -> None:
    _, entry = images(tmp_path, split={"train": ["eye00", "eye01"], "test": ["eye01"]})
    fails(tmp_path, entry, r"'eye01' is listed in both the 'train' and the 'test' split")


def test_empty_test_split(tmp_path: Path) -> None:
    folder, entry = nnunet(tmp_path)
    entry["split"] = {"train": ["blob_000", "blob_001"]}
    fails(tmp_path, entry, r"empty test split for .*Dataset001_Blobs")


def test_unsupported_file_ending(tmp_path: Path) -> None:
    folder, entry = nnunet(tmp_path)
    meta = json.loads((folder / "dataset.json").read_text())
    (folder / "dataset.json").write_text(json.dumps({**meta, "file_ending": ".png"}))
    msg = fails(tmp_path, entry, r"file_ending '\.png' is not supported", stage="fetch")
    assert "images2d" in msg


def test_unknown_decathlon_task_lists_monais(tmp_path: Path) -> None:
    msg = fails(tmp_path, {"kind": "msd", "task": "Task11_Knee"}, "unknown Decathlon task", stage="fetch")
    assert "Task02_Heart" in msg and "Task10_Colon" in msg


def test_classes_without_background(tmp_path: Path) -> None:
    _, entry = images(tmp_path, classes={"0": "bg", "255": "vessel"})
    fails(tmp_path, entry, "must name one value 'background'")  # the config check refuses it first


def test_data_error_is_the_type(tmp_path: Path) -> None:
    _, entry = images(tmp_path, split={"train": ["eye00"], "test": ["nope"]})
    with pytest.raises(DataError, match="'nope'"):
        fetch_dataset("ds", entry, tmp_path / "raw")
        prepare_dataset("ds", entry, tmp_path / "raw", tmp_path / "out")


@pytest.mark.parametrize("kind", ["nnunet", "images2d"])
def test_local_only_kinds_say_so(tmp_path: Path, kind: str) -> None:
    from morse.data.sources.download import DownloadError

    with pytest.raises(DownloadError, match=f"kind {kind} reads local folders only; set `source: local`"):
        fetch_dataset("ds", {"kind": kind}, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_spatial_dims_only_where_the_kind_offers_it() -> None:
    from morse.data.recipes.registry import dataset_dims

    assert dataset_dims({"kind": "msd", "task": "Task02_Heart"}) == 3
    assert dataset_dims({"kind": "nnunet", "spatial_dims": 2}) == 2
    assert dataset_dims({"kind": "images2d"}) == 2
    with pytest.raises(ValueError, match="kind 'images2d' trains in 2D only"):
        dataset_dims({"kind": "images2d", "spatial_dims": 3})


def test_nnunet_parent_with_two_datasets_is_ambiguous(tmp_path: Path) -> None:
    import shutil

    folder, entry = nnunet(tmp_path)
    shutil.copytree(folder, folder.parent / "Dataset002_Copy")
    entry["path"] = str(folder.parent)
    fails(tmp_path, entry, r"holds 2 nnU-Net datasets \['Dataset001_Blobs', 'Dataset002_Copy'\]", stage="fetch")
