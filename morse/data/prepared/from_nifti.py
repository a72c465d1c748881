"""The ``prepare`` step: raw NIfTI data (Medical Segmentation Decathlon layout) -> prepared format.

Raw layout: ``raw_dir/dataset.json`` (MSD: ``modality``, ``labels``, ``training`` list of
``{"image", "label"}``), ``raw_dir/imagesTr/*.nii.gz``, ``raw_dir/labelsTr/*.nii.gz``. Without a
``dataset.json`` the cases are the files of ``imagesTr`` with a same-named file in ``labelsTr``.
Other layouts pass an explicit list of :class:`~morse.data.readers.nifti.RawCase`.

:func:`prepare_nifti_dataset` runs five steps: collect the cases, read the class names and
modalities, choose the splits, choose the slice axis, then convert every case (read, check,
map labels, orient, normalise) while
:func:`~morse.data.prepared.format.write_prepared_dataset` writes them atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import DatasetInfo, write_prepared_dataset
from morse.data.prepared.intensity import describe_intensity, normalize_intensity
from morse.data.prepared.splits import check_explicit_splits, require_train_and_test, split_cases
from morse.data.readers.nifti import (
    AXIS_NAMES,
    NIBABEL_ENDINGS,
    RawCase,
    Volume,
    axis_order,
    case_id,
    check_same_grid,
    lowest_resolution_axis,
    map_labels,
    read_volume,
    slice_axis_index,
)

__all__ = ["prepare_nifti_dataset"]

log = logging.getLogger(__name__)

CasePaths = dict[str, tuple[tuple[Path, ...], Path]]  # case -> (image files, label file)
DEFAULT_INTENSITY = {"mode": "window", "window": [-125, 275]}


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
    slice_axis: int | str | None = None,
) -> DatasetInfo:
    """Convert an MSD-layout NIfTI dataset into the prepared format at ``out_dir`` (atomically).

    Images become float32 (C, Z, Y, X), normalised by ``intensity`` (default: the Synapse CT
    window [-125, 275] -> [0, 1]); labels uint8 (Z, Y, X); spacing (z, y, x) mm from the header.
    Splits are by case: ``splits`` if given (cases not listed are skipped), else a random split
    from ``split_seed``. With ``spatial_dims == 2``, ``slice_axis`` (``"x"``, ``"y"``, ``"z"``
    or ``"auto"``: the axis of lowest resolution; default ``"z"``) becomes the prepared Z axis.

    Raises :class:`~morse.data.errors.DataError` (a ``ValueError``) naming the file or case for
    corrupt files, image/label shape or affine mismatches, channel counts that differ from the
    modalities, labels outside the class map, non-positive spacing, a case in two splits and an
    empty test split, and :class:`~morse.data.errors.MissingDataError` for a missing
    ``raw_dir``. Nothing is written at ``out_dir`` unless every case converts.

    Other layouts pass ``cases`` (then ``class_names`` and ``modalities`` are needed as there is
    no ``dataset.json``), and ``label_map`` (raw label value -> class index; any other raw value
    is an error naming the file).
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    intensity = dict(intensity) if intensity is not None else dict(DEFAULT_INTENSITY)
    by_id, meta = _collect_cases(raw_dir, cases)
    class_names = _class_names(raw_dir, meta, class_names)
    modalities = _modalities(meta, modalities)
    splits = _choose_splits(by_id, raw_dir, splits, test_fraction, val_fraction, split_seed)
    axis = _choose_slice_axis(spatial_dims, slice_axis, [by_id[c][1] for s in splits.values() for c in s])
    info = DatasetInfo(
        name=name, spatial_dims=int(spatial_dims), modalities=modalities,
        class_names=class_names, splits=splits, spacing={}, regions=dict(regions or {}),
        preparation={
            "intensity": intensity, "intensity_text": describe_intensity(intensity),
            "spacing": "from the NIfTI headers",
            "slice_axis": AXIS_NAMES[axis] if int(spatial_dims) == 2 else None,
        },
    )
    info.validate()
    converter = _CaseConverter(info, intensity, label_map, axis)
    converted = (converter(case, *by_id[case])
                 for case in tqdm(info.cases, desc=f"prepare {name}", unit="case"))
    write_prepared_dataset(out_dir, info, converted)
    log.info("prepared %s: %d cases -> %s", name, len(info.cases), out_dir)
    return info


# --------------------------------------------------------------------------- steps


def _collect_cases(raw_dir: Path, cases: Sequence[RawCase] | None) -> tuple[CasePaths, dict[str, Any]]:
    """Case -> (image files, label file), from ``cases`` or the MSD layout, and the raw metadata."""
    if cases is None:
        raw, meta = _msd_cases(raw_dir)
        return {c: ((img,), lab) for c, img, lab in raw}, meta
    by_id: CasePaths = {}
    for rc in cases:
        if rc.case in by_id:
            raise DataError(f"duplicate case id {rc.case!r} in {raw_dir}")
        by_id[rc.case] = (tuple(Path(p) for p in rc.images), Path(rc.label))
    if not by_id:
        raise DataError(f"no cases found in {raw_dir}")
    return by_id, {}


def _msd_cases(raw_dir: Path) -> tuple[list[tuple[str, Path, Path]], dict[str, Any]]:
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
            cases.append((case_id(img), img, lab))
    else:
        images = raw_dir / "imagesTr"
        files = sorted(images.glob("*")) if images.is_dir() else []
        for img in files:
            if img.name.endswith(NIBABEL_ENDINGS) and not img.name.startswith("."):
                cases.append((case_id(img), img, raw_dir / "labelsTr" / img.name))
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


def _class_names(raw_dir: Path, meta: dict[str, Any], class_names: list[str] | None) -> list[str]:
    """Explicit class names, else the MSD ``labels`` (ids 0..N-1); index 0 is "background"."""
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
    return class_names


def _modalities(meta: dict[str, Any], modalities: list[str] | None) -> list[str]:
    """Explicit modalities, else the MSD ``modality`` table, else one channel ``image``."""
    if modalities is not None:
        return list(modalities)
    modality = meta.get("modality") or {"0": "image"}
    return [str(modality[k]) for k in sorted(modality, key=int)]


def _choose_splits(
    by_id: CasePaths, raw_dir: Path, splits: dict[str, list[str]] | None,
    test_fraction: float, val_fraction: float, split_seed: int,
) -> dict[str, list[str]]:
    """Explicit splits (checked) or a random one; an empty test or train split is an error."""
    if splits is None:
        splits = split_cases(list(by_id), test_fraction=test_fraction,
                             val_fraction=val_fraction, split_seed=split_seed)
    else:
        splits = check_explicit_splits(splits, list(by_id), raw_dir)
    require_train_and_test(splits, raw_dir, len(by_id))
    return splits


def _choose_slice_axis(spatial_dims: int, slice_axis: int | str | None, labels: list[Path]) -> int:
    """The NIfTI axis that becomes the prepared Z axis (always z for volumetric datasets)."""
    if int(spatial_dims) != 2 or slice_axis is None:
        return 2
    if slice_axis == "auto":
        return lowest_resolution_axis(labels)
    return slice_axis_index(slice_axis)


@dataclass
class _CaseConverter:
    """Read, check, map, orient and normalise one case; fills ``info.spacing``."""

    info: DatasetInfo
    intensity: dict[str, Any]
    label_map: Mapping[int, int] | None
    slice_axis: int
    _order: tuple[int, int, int] = field(init=False)

    def __post_init__(self) -> None:
        self._order = axis_order(self.slice_axis)

    def __call__(self, case: str, images: tuple[Path, ...], label: Path) -> tuple[str, np.ndarray, np.ndarray]:
        try:
            img, lab = self._read_checked(images, label)
        except DataError as e:
            raise DataError(f"case {case!r}: {e}") from e
        order = self._order
        image = normalize_intensity(
            np.ascontiguousarray(np.transpose(img.data, (3, *order))), self.intensity
        )
        zooms = [*img.zooms[:3], *[1.0] * (3 - len(img.zooms[:3]))]
        self.info.spacing[case] = [float(zooms[a]) for a in order]
        return case, image, np.ascontiguousarray(np.transpose(lab, order)).astype(np.uint8)

    def _read_checked(self, images: tuple[Path, ...], label: Path) -> tuple[Volume, np.ndarray]:
        img, lab = read_volume(images), read_volume((label,))
        for vol in (img, lab):
            if vol.data.ndim == 2:
                vol.data = vol.data[:, :, None]
        if img.data.ndim not in (3, 4) or lab.data.ndim != 3 or img.data.shape[:3] != lab.data.shape:
            raise DataError(
                f"image shape {img.data.shape} ({img.path.name}) does not match label shape "
                f"{lab.data.shape} ({lab.path.name}) (NIfTI order X, Y, Z[, C]); the files belong "
                f"to different cases or the label was cropped: replace one of them"
            )
        self._check_spacing(img)
        check_same_grid(img, lab)
        if img.data.ndim == 3:
            img.data = img.data[..., None]
        self._check_channels(img)
        if not np.all(np.isfinite(img.data)):
            raise DataError(f"image {img.path} contains NaN or infinite values")
        values = lab.data if self.label_map is None else map_labels(lab.data, self.label_map, lab.path)
        self._check_label_values(values, lab.path)
        return img, values

    def _check_channels(self, img: Volume) -> None:
        expected = len(self.info.modalities)
        if img.data.shape[3] != expected:
            raise DataError(
                f"image {img.path.name} has {img.data.shape[3]} channel(s) but the dataset declares "
                f"{expected} modalities {self.info.modalities}; fix the modality list (dataset.json "
                f"or config) or the image"
            )

    @staticmethod
    def _check_spacing(img: Volume) -> None:
        zooms = img.zooms[:3]
        if not all(np.isfinite(z) and z > 0 for z in zooms):
            raise DataError(
                f"image {img.path.name} has voxel sizes {list(zooms)} in its header; spacing must be "
                f"positive and finite: fix the header (pixdim) of the file"
            )

    def _check_label_values(self, lab: np.ndarray, path: Path) -> None:
        n_classes = self.info.num_classes
        bad = [v for v in np.unique(lab).tolist()
               if not np.isfinite(v) or v != round(v) or not 0 <= v < n_classes]
        if bad:
            raise DataError(
                f"label file {path.name} has values {bad} outside the class map; allowed range is "
                f"0..{n_classes - 1} ({n_classes} classes: {self.info.class_names}): declare the "
                f"classes in dataset.json / the config, or fix the label file"
            )
