"""Tiny fake datasets in the layouts users bring: a Decathlon task folder, an nnU-Net v2 raw
dataset (NIfTI written with nibabel) and 2D image folders (PNG written with Pillow)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image


def blob_volume(seed: int, shape=(12, 10, 4), labels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """An MR-like image (X, Y, Z) and a label map with nested boxes 1..labels."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.uint8)
    for k in range(1, labels + 1):
        m = k - 1
        lab[2 + m: shape[0] - 2 - m, 2 + m: shape[1] - 2 - m, :] = k
    img = (100.0 + 50.0 * lab + rng.normal(0, 5, shape)).astype(np.float32)
    return img, lab


def save_nifti(path: Path, array: np.ndarray, zooms=(1.0, 1.0, 2.5), offset=(0.0, 0.0, 0.0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = offset
    nib.save(nib.Nifti1Image(array, affine), path)


def write_msd_task(root: Path, task: str = "Task04_Hippocampus", n: int = 5,
                   zooms=(1.0, 1.0, 2.5)) -> Path:
    """``root/<task>/`` with dataset.json, imagesTr/, labelsTr/ (and an AppleDouble file, as in
    the real tarballs)."""
    folder = root / task
    training = []
    for i in range(n):
        img, lab = blob_volume(i)
        save_nifti(folder / "imagesTr" / f"hippo_{i:03d}.nii.gz", img, zooms)
        save_nifti(folder / "labelsTr" / f"hippo_{i:03d}.nii.gz", lab, zooms)
        training.append({"image": f"./imagesTr/hippo_{i:03d}.nii.gz",
                         "label": f"./labelsTr/hippo_{i:03d}.nii.gz"})
    (folder / "imagesTr" / "._hippo_000.nii.gz").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    meta = {"name": "Hippocampus", "modality": {"0": "MRI"},
            "labels": {"0": "background", "1": "Anterior", "2": "Posterior"},
            "numTraining": n, "numTest": 0, "training": training, "test": []}
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def write_nnunet(root: Path, n: int = 4, *, regions: bool = True, shape=(16, 16, 16)) -> Path:
    """``root/Dataset001_Blobs/`` with two channels; BraTS-style region labels by default."""
    folder = root / "Dataset001_Blobs"
    for i in range(n):
        img, lab = blob_volume(10 + i, shape, labels=3 if regions else 2)
        save_nifti(folder / "imagesTr" / f"blob_{i:03d}_0000.nii.gz", img)
        save_nifti(folder / "imagesTr" / f"blob_{i:03d}_0001.nii.gz", 2 * img)
        save_nifti(folder / "labelsTr" / f"blob_{i:03d}.nii.gz", lab)
    labels = ({"background": 0, "whole": [1, 2, 3], "core": [2, 3], "enhancing": 3} if regions
              else {"background": 0, "outer": 1, "inner": 2})
    meta = {"channel_names": {"0": "T1", "1": "T2"}, "labels": labels, "numTraining": n,
            "file_ending": ".nii.gz"}
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def vessel_case(seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An RGB uint8 image, a 0/255 vessel mask and a circular 0/255 field-of-view mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    fov = ((yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 < (size / 2 - 1) ** 2)
    mask = np.zeros((size, size), np.uint8)
    row = 4 + seed % (size // 2)
    mask[row: row + 3, 2: size - 2] = 255
    mask[2: size - 2, size // 2: size // 2 + 2] = 255
    mask[~fov] = 0
    image = np.stack([60 + 120 * (mask > 0) * c + rng.integers(0, 30, (size, size))
                      for c in (1.0, 0.5, 0.2)], axis=-1).astype(np.uint8)
    image[~fov] = 0
    return image, mask, (fov * 255).astype(np.uint8)


def write_images2d(root: Path, n: int = 6, size: int = 32) -> Path:
    """DRIVE-like ``images/{case}.png``, ``masks/{case}_mask.png``, ``fov/{case}_fov.png``."""
    for folder in ("images", "masks", "fov"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask, fov = vessel_case(i, size)
        Image.fromarray(image, "RGB").save(root / "images" / f"eye{i:02d}.png")
        Image.fromarray(mask, "L").save(root / "masks" / f"eye{i:02d}_mask.png")
        Image.fromarray(fov, "L").save(root / "fov" / f"eye{i:02d}_fov.png")
    return root


IMAGES2D_ENTRY = {
    "kind": "images2d", "source": "local", "classes": {"0": "background", "255": "vessel"},
    "layout": {"fov": "fov/{case}_fov.png"}, "spacing": 0.02,
}
