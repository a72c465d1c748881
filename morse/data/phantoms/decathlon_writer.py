"""Writing cases in the Medical Segmentation Decathlon layout (what the phantoms generate).

Reading that layout is :mod:`morse.data.readers.decathlon`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from morse.common import atomic_path


def save_msd_case(
    root: Path, case: str, image: np.ndarray, label: np.ndarray, spacing: Sequence[float]
) -> dict[str, str]:
    """Write ``root/imagesTr/<case>.nii.gz`` and ``root/labelsTr/<case>.nii.gz``.

    ``image`` is (Z, Y, X) or (C, Z, Y, X) float32, ``label`` (Z, Y, X) uint8, ``spacing`` (z, y, x)
    in mm; NIfTI stores them as (X, Y, Z[, C]) with the spacing on the affine's diagonal.
    Returns the ``training`` entry of the MSD ``dataset.json``.
    """
    sz, sy, sx = (float(s) for s in spacing)
    affine = np.diag([sx, sy, sz, 1.0])
    axes = (3, 2, 1, 0) if image.ndim == 4 else (2, 1, 0)
    for folder, array, dtype, order in (
        ("imagesTr", image, np.float32, axes),
        ("labelsTr", label, np.uint8, (2, 1, 0)),
    ):
        nifti = nib.Nifti1Image(np.ascontiguousarray(array.transpose(order)).astype(dtype), affine)
        nifti.header.set_data_dtype(dtype)
        nifti.header.set_xyzt_units("mm")
        (root / folder).mkdir(parents=True, exist_ok=True)
        nib.save(nifti, root / folder / f"{case}.nii.gz")
    return {"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"}


def write_msd_dataset(
    raw_dir: Path,
    cases: Iterable[tuple[str, np.ndarray, np.ndarray, Sequence[float]]],
    meta: dict[str, Any],
) -> None:
    """Write a whole MSD-layout raw dataset atomically: every ``(case, image, label, spacing)``
    via :func:`save_msd_case`, then ``dataset.json`` (``meta`` plus the training list)."""
    with atomic_path(Path(raw_dir)) as tmp:
        training = [save_msd_case(tmp, *case) for case in cases]
        meta = {**meta, "licence": "CC0", "release": "1.0", "numTraining": len(training),
                "numTest": 0, "training": training, "test": []}
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
