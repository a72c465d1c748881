"""The ``prepare`` step: raw NIfTI data (Medical Segmentation Decathlon layout) -> prepared format.

Raw layout: ``raw_dir/dataset.json`` (MSD: ``modality``, ``labels``, ``training`` list of
``{"image", "label"}``), ``raw_dir/imagesTr/*.nii.gz``, ``raw_dir/labelsTr/*.nii.gz``. Without a
``dataset.json`` the cases are the files of ``imagesTr`` with a same-named file in ``labelsTr``.

NIfTI arrays are indexed (X, Y, Z[, C]); prepared arrays are (C, Z, Y, X) / (Z, Y, X), i.e. a plain
transpose (no reorientation, no resampling: the voxel grid is kept and the spacing recorded).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from tqdm import tqdm

from morse.data.prepared import (
    SPLIT_NAMES,
    DataError,
    DatasetInfo,
    MissingDataError,
    write_prepared_dataset,
)

__all__ = ["RawCase", "normalize_intensity", "prepare_nifti_dataset", "split_cases"]

log = logging.getLogger(__name__)

_NIFTI_SUFFIXES = (".nii.gz", ".nii")


def _case_id(path: str | Path) -> str:
    name = Path(path).name
    for suffix in _NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Array in NIfTI index order and the voxel sizes; DataError naming the file if unreadable."""
    if not path.is_file():
        raise DataError(f"missing NIfTI file {path}")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception as e:  # nibabel raises many types for corrupt / truncated files
        raise DataError(
            f"cannot read NIfTI file {path} (corrupt or truncated?): {type(e).__name__}: {e}"
        ) from e
    return data, zooms


@dataclass(frozen=True)
class RawCase:
    """One raw case given explicitly (for layouts other than MSD).

    ``images``: one NIfTI file (3-D, or 4-D with channels last), or one 3-D file per channel
    (stacked in the given order). ``label``: a 3-D NIfTI label map.
    """

    case: str
    images: tuple[Path, ...]
    label: Path


def _read_image(paths: Sequence[Path]) -> tuple[np.ndarray, tuple[float, ...], Path]:
    """Read one image file, or stack one 3-D file per channel along a last axis."""
    if len(paths) == 1:
        data, zooms = _read_nifti(paths[0])
        return data, zooms, paths[0]
    channels, zooms = [], ()
    for path in paths:
        data, z = _read_nifti(path)
        if data.ndim != 3 or (channels and data.shape != channels[0].shape):
            raise DataError(
                f"channel file {path} has shape {data.shape}; expected a 3-D volume"
                + (f" of shape {channels[0].shape} like {paths[0].name}" if channels else "")
            )
        channels.append(data)
        zooms = zooms or z
    return np.stack(channels, axis=-1), zooms, paths[0]


def _map_labels(lab: np.ndarray, label_map: Mapping[int, int], path: Path) -> np.ndarray:
    """Map raw label values to class indices; values not in ``label_map`` are an error."""
    values, inverse = np.unique(lab, return_inverse=True)
    bad = [v for v in values.tolist() if not np.isfinite(v) or v != round(v) or int(v) not in label_map]
    if bad:
        raise DataError(
            f"label file {path} has values {bad} that are not valid raw labels of this dataset "
            f"(expected a subset of {sorted(label_map)}); the file is corrupt or from another "
            f"release: replace it, or remove the case from the split"
        )
    lut = np.array([label_map[int(v)] for v in values.tolist()], dtype=np.uint8)
    return lut[inverse].reshape(lab.shape)


def _raw_cases(raw_dir: Path) -> tuple[list[tuple[str, Path, Path]], dict[str, Any]]:
    """List (case, image path, label path) and the raw MSD metadata (may be empty)."""
    if not raw_dir.is_dir():
        raise MissingDataError(
            f"raw data directory not found: {raw_dir}. Run the fetch step first "
            f"(`morse-bench fetch ...`, or `snakemake --cores all`), or point the config at a "
            f"local copy of the data."
        )
    meta_path = raw_dir / "dataset.json"
    meta: dict[str, Any] = {}
    cases: list[tuple[str, Path, Path]] = []
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"invalid raw dataset metadata {meta_path}: {e}") from e
        for entry in meta.get("training", []):
            img, lab = raw_dir / entry["image"], raw_dir / entry["label"]
            cases.append((_case_id(img), img, lab))
    else:
        images = raw_dir / "imagesTr"
        files = (
            sorted(p for p in images.glob("*") if p.name.endswith(_NIFTI_SUFFIXES))
            if images.is_dir()
            else []
        )
        for img in files:
            if img.name.startswith("."):
                continue
            cases.append((_case_id(img), img, raw_dir / "labelsTr" / img.name))
    if not cases:
        raise DataError(
            f"no training cases found in {raw_dir} (expected dataset.json with a 'training' list, "
            f"or NIfTI files in {raw_dir / 'imagesTr'})"
        )
    names = [c for c, _, _ in cases]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise DataError(f"duplicate case ids in {raw_dir}: {dup}")
    return cases, meta


def split_cases(
    cases: list[str],
    *,
    test_fraction: float = 0.25,
    val_fraction: float = 0.0,
    split_seed: int = 0,
) -> dict[str, list[str]]:
    """Random case-level split, deterministic from ``split_seed`` (each split sorted by name)."""
    if not (0.0 <= test_fraction < 1.0 and 0.0 <= val_fraction < 1.0):
        raise ValueError(f"fractions must be in [0, 1): test {test_fraction}, val {val_fraction}")
    ordered = sorted(cases)
    perm = np.random.default_rng(split_seed).permutation(len(ordered))
    n_test = int(round(test_fraction * len(ordered)))
    if test_fraction > 0:
        n_test = max(1, n_test)
    n_val = int(round(val_fraction * len(ordered)))
    if val_fraction > 0:
        n_val = max(1, n_val)
    shuffled = [ordered[i] for i in perm]
    test, val, train = (
        shuffled[:n_test],
        shuffled[n_test : n_test + n_val],
        shuffled[n_test + n_val :],
    )
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def normalize_intensity(image: np.ndarray, intensity: dict[str, Any]) -> np.ndarray:
    """Normalise a (C, ...) image.

    ``{"mode": "window", "window": [lo, hi]}``: clip to [lo, hi], scale to [0, 1] (Synapse CT).
    ``{"mode": "zscore"}``: per channel, mean/std over the channel's nonzero voxels; zero voxels
    stay zero (MONAI ``NormalizeIntensity(nonzero=True, channel_wise=True)``; BraTS MRI).
    ``{"mode": "none"}``: unchanged.
    """
    mode = intensity.get("mode", "window")
    image = image.astype(np.float32, copy=True)
    if mode == "window":
        lo, hi = (float(x) for x in intensity.get("window", (-125.0, 275.0)))
        if not hi > lo:
            raise ValueError(f"intensity window must have hi > lo, got {[lo, hi]}")
        return (np.clip(image, lo, hi) - lo) / (hi - lo)
    if mode == "zscore":
        for c in range(image.shape[0]):
            ch = image[c]
            mask = ch != 0
            if mask.any():
                vals = ch[mask].astype(np.float64)
                ch[mask] = ((vals - vals.mean()) / max(vals.std(), 1e-8)).astype(np.float32)
        return image
    if mode == "none":
        return image
    raise ValueError(f"unknown intensity mode {mode!r}; use 'window', 'zscore' or 'none'")


def _validate_splits(
    splits: dict[str, list[str]], available: list[str], raw_dir: Path
) -> dict[str, list[str]]:
    unknown_splits = set(splits) - set(SPLIT_NAMES)
    if unknown_splits:
        raise DataError(f"unknown split names {sorted(unknown_splits)}; use {list(SPLIT_NAMES)}")
    out = {s: [str(c) for c in splits.get(s, [])] for s in SPLIT_NAMES}
    known = set(available)
    for split, cases in out.items():
        missing = [c for c in cases if c not in known]
        if missing:
            raise DataError(f"split {split!r} names cases not found in {raw_dir}: {missing}")
    return out


def prepare_nifti_dataset(
    raw_dir: Path,
    out_dir: Path,
    *,
    name: str,
    spatial_dims: int,
    splits: dict[str, list[str]] | None = None,
    test_fraction: float = 0.25,
    val_fraction: float = 0.0,
    split_seed: int = 0,
    intensity: dict[str, Any] | None = None,
    class_names: list[str] | None = None,
    regions: dict[str, list[int]] | None = None,
    cases: Sequence[RawCase] | None = None,
    modalities: list[str] | None = None,
    label_map: Mapping[int, int] | None = None,
) -> DatasetInfo:
    """Convert an MSD-layout NIfTI dataset into the prepared format at ``out_dir`` (atomically).

    Images become float32 (C, Z, Y, X), normalised by ``intensity`` (default: the Synapse CT
    window [-125, 275] -> [0, 1]); labels uint8 (Z, Y, X); spacing (z, y, x) mm from the header.
    Splits are by case: ``splits`` if given (cases not listed are skipped), else a random split
    from ``split_seed``. Raises :class:`~morse.data.prepared.DataError` (a ``ValueError``) naming
    the file or case for corrupt files, image/label shape mismatches, labels outside the class
    map and an empty test split, and :class:`~morse.data.prepared.MissingDataError` for a missing
    ``raw_dir``. Nothing is written at ``out_dir`` unless every case converts.

    Other layouts pass ``cases`` (explicit :class:`RawCase` list, then ``class_names`` and
    ``modalities`` are needed as there is no ``dataset.json``), and ``label_map`` (raw label
    value -> class index; any other raw value is an error naming the file).
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    intensity = (
        dict(intensity) if intensity is not None else {"mode": "window", "window": [-125, 275]}
    )
    if cases is None:
        raw, meta = _raw_cases(raw_dir)
        by_id: dict[str, tuple[tuple[Path, ...], Path]] = {c: ((img,), lab) for c, img, lab in raw}
    else:
        meta = {}
        by_id = {}
        for rc in cases:
            if rc.case in by_id:
                raise DataError(f"duplicate case id {rc.case!r} in {raw_dir}")
            by_id[rc.case] = (tuple(Path(p) for p in rc.images), Path(rc.label))
        if not by_id:
            raise DataError(f"no cases found in {raw_dir}")

    if class_names is None:
        labels = meta.get("labels")
        if not labels:
            raise DataError(f"{raw_dir}: no 'labels' in dataset.json; pass class_names explicitly")
        keys = sorted(int(k) for k in labels)
        if keys != list(range(len(keys))):
            raise DataError(f"{raw_dir}: label ids in dataset.json must be 0..N-1, got {keys}")
        class_names = [str(labels[str(k)]) for k in keys]
    class_names = list(class_names)
    if class_names and class_names[0].lower() == "background":
        class_names[0] = "background"
    if modalities is None:
        modality = meta.get("modality") or {"0": "image"}
        modalities = [str(modality[k]) for k in sorted(modality, key=int)]

    explicit_splits = splits is not None
    if splits is None:
        splits = split_cases(
            list(by_id),
            test_fraction=test_fraction,
            val_fraction=val_fraction,
            split_seed=split_seed,
        )
    else:
        splits = _validate_splits(splits, list(by_id), raw_dir)
    if not splits["test"]:
        how = ("the given test list is empty" if explicit_splits else
               f"split.test_fraction {test_fraction} of {len(by_id)} cases rounds to none")
        raise DataError(f"empty test split for {raw_dir}: {how}; raise `split.test_fraction` in the "
                        "dataset's config entry (or list cases under `split.test`)")
    if not splits["train"]:
        raise DataError(f"empty train split for {raw_dir} ({len(by_id)} cases)")

    info = DatasetInfo(
        name=name,
        spatial_dims=int(spatial_dims),
        modalities=modalities,
        class_names=class_names,
        splits=splits,
        spacing={},
        regions=dict(regions or {}),
    )
    info.validate()
    n_classes = len(class_names)

    def convert() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for case in tqdm(info.cases, desc=f"prepare {name}", unit="case"):
            img_paths, lab_path = by_id[case]
            img, zooms, img_path = _read_image(img_paths)
            lab, _ = _read_nifti(lab_path)
            if img.ndim == 2:
                img = img[:, :, None]
            if lab.ndim == 2:
                lab = lab[:, :, None]
            if img.ndim not in (3, 4) or lab.ndim != 3 or img.shape[:3] != lab.shape:
                raise DataError(
                    f"case {case!r}: image shape {img.shape} ({img_path.name}) does not match label "
                    f"shape {lab.shape} ({lab_path.name}) (NIfTI order X, Y, Z[, C])"
                )
            if not np.all(np.isfinite(img)):
                raise DataError(f"case {case!r}: image {img_path} contains NaN or infinite values")
            if label_map is not None:
                try:
                    lab = _map_labels(lab, label_map, lab_path)
                except DataError as e:
                    raise DataError(f"case {case!r}: {e}") from e
            lab_values = np.unique(lab)
            bad = [
                v
                for v in lab_values.tolist()
                if not np.isfinite(v) or v != round(v) or not 0 <= v < n_classes
            ]
            if bad:
                raise DataError(
                    f"case {case!r}: label file {lab_path.name} has values {bad} outside the class "
                    f"map; allowed range is 0..{n_classes - 1} ({n_classes} classes: {class_names})"
                )
            if img.ndim == 3:
                img = img[..., None]
            image = np.ascontiguousarray(np.transpose(img, (3, 2, 1, 0)))  # (C, Z, Y, X)
            image = normalize_intensity(image, intensity)
            label = np.ascontiguousarray(np.transpose(lab, (2, 1, 0))).astype(np.uint8)
            zyx = list(zooms[:3]) + [1.0] * (3 - len(zooms[:3]))
            info.spacing[case] = [zyx[2], zyx[1], zyx[0]]
            yield case, image, label

    write_prepared_dataset(out_dir, info, convert())
    log.info("prepared %s: %d cases -> %s", name, len(info.cases), out_dir)
    return info
