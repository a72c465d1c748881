"""The one on-disk format every dataset is converted to by the ``prepare`` step.

Layout of ``data/prepared/<dataset>/``::

    dataset.json          DatasetInfo (name, spatial dims, modalities, class names, splits,
                          per-case spacing (z, y, x) in mm, optional evaluation regions)
    images/<case>.npy     float32, (C, Z, Y, X), already intensity-normalised
    labels/<case>.npy     uint8,   (Z, Y, X), values in [0, len(class_names))
    fov/<case>.npy        uint8,   (Z, Y, X), 1 inside the field of view (only when
                          ``dataset.json`` has ``"fov": true``, e.g. fundus images); the metrics
                          treat prediction and label as background outside it

Volumes are always stored 3D, also for datasets trained slice-wise (``spatial_dims == 2``);
``np.load(..., mmap_mode="r")`` reads single slices without loading a whole case.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from morse.common import atomic_path
from morse.data.errors import DataError, MissingDataError

__all__ = [
    "DatasetInfo",
    "SPLIT_NAMES",
    "load_case",
    "load_fov",
    "mask_outside_fov",
    "read_dataset_info",
    "write_prepared_dataset",
]

SPLIT_NAMES = ("train", "val", "test")
_CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class DatasetInfo:
    """Metadata of a prepared dataset, stored as ``dataset.json``."""

    name: str
    spatial_dims: int  # 2 = trained slice-wise on axial 2D slices, 3 = volumetric
    modalities: list[str]
    class_names: list[str]  # index 0 is "background"
    splits: dict[str, list[str]]  # "train", "val", "test" -> case ids
    spacing: dict[str, list[float]]  # case -> (z, y, x) in mm
    regions: dict[str, list[int]] = field(default_factory=dict)  # e.g. BraTS "WT" -> [1, 2, 3]
    fov: bool = False  # True: fov/<case>.npy masks what the metrics score
    preparation: dict[str, Any] = field(default_factory=dict)  # what prepare did, for the report

    @property
    def num_classes(self) -> int:
        """Number of classes including background."""
        return len(self.class_names)

    @property
    def cases(self) -> list[str]:
        """All cases of all splits, in split order (train, val, test)."""
        return [c for s in SPLIT_NAMES for c in self.splits.get(s, [])]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetInfo:
        """Inverse of :meth:`to_dict`; missing optional keys take their defaults."""
        return cls(
            name=str(d["name"]),
            spatial_dims=int(d["spatial_dims"]),
            modalities=[str(m) for m in d["modalities"]],
            class_names=[str(c) for c in d["class_names"]],
            splits={str(k): [str(c) for c in v] for k, v in d["splits"].items()},
            spacing={str(k): [float(s) for s in v] for k, v in d["spacing"].items()},
            regions={str(k): [int(i) for i in v] for k, v in d.get("regions", {}).items()},
            fov=bool(d.get("fov", False)),
            preparation=dict(d.get("preparation", {})),
        )

    def validate(self) -> None:
        """Raise :class:`DataError` if the metadata is inconsistent."""
        if self.spatial_dims not in (2, 3):
            raise DataError(
                f"dataset {self.name!r}: spatial_dims must be 2 or 3, got {self.spatial_dims}"
            )
        if not self.modalities:
            raise DataError(f"dataset {self.name!r}: no modalities")
        if len(self.class_names) < 2 or self.class_names[0] != "background":
            raise DataError(
                f"dataset {self.name!r}: class_names must start with 'background' and have at "
                f"least one foreground class, got {self.class_names}"
            )
        unknown = set(self.splits) - set(SPLIT_NAMES)
        if unknown:
            raise DataError(
                f"dataset {self.name!r}: unknown split names {sorted(unknown)}, use {SPLIT_NAMES}"
            )
        seen: dict[str, str] = {}
        for split, cases in self.splits.items():
            for case in cases:
                if not _CASE_NAME.match(case):
                    raise DataError(
                        f"dataset {self.name!r}: invalid case name {case!r} (case names come "
                        f"from the file names: letters, digits, '.', '_' and '-' only); rename it"
                    )
                if case in seen:
                    raise DataError(
                        f"dataset {self.name!r}: case {case!r} is in both the {seen[case]!r} and the "
                        f"{split!r} split; list every case in one split only"
                    )
                seen[case] = split
        for region, labels in self.regions.items():
            bad = [i for i in labels if not 0 < i < len(self.class_names)]
            if bad:
                raise DataError(
                    f"dataset {self.name!r}: region {region!r} has invalid labels {bad}"
                )


def _missing(path: Path, what: str) -> MissingDataError:
    return MissingDataError(
        f"{what} not found: {path}. Run the prepare step first "
        f"(`morse-bench prepare ...`, or `snakemake --cores all` which runs fetch and prepare)."
    )


def read_dataset_info(root: str | Path) -> DatasetInfo:
    """Read ``root/dataset.json`` of a prepared dataset.

    Raises :class:`MissingDataError` (a ``FileNotFoundError``) naming the missing path.
    """
    root = Path(root)
    if not root.is_dir():
        raise _missing(root, "prepared dataset directory")
    meta = root / "dataset.json"
    if not meta.is_file():
        raise _missing(meta, "prepared dataset metadata")
    try:
        d = json.loads(meta.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"invalid prepared dataset metadata {meta}: {e}") from e
    if isinstance(d, dict) and "splits" not in d and ("training" in d or (root / "imagesTr").is_dir()):
        raise DataError(
            f"{root} is a raw dataset (MSD layout: dataset.json with 'training', imagesTr/), not a "
            "prepared one; give its prepared folder, data/prepared/<dataset> (the prepare step's output)"
        )
    try:
        return DatasetInfo.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"invalid prepared dataset metadata {meta}: {e}") from e


def load_case(root: str | Path, case: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load one prepared case: image float32 (C, Z, Y, X) and label uint8 (Z, Y, X).

    With ``mmap=True`` the arrays are read-only memory maps (cheap random slice access).
    """
    root = Path(root)
    img_path = root / "images" / f"{case}.npy"
    lab_path = root / "labels" / f"{case}.npy"
    for p in (img_path, lab_path):
        if not p.is_file():  # the folder exists, so Snakemake would not prepare it again by itself
            raise MissingDataError(f"case {case!r} not found: {p}; the prepared dataset {root} is "
                                   f"incomplete: delete {root} and run snakemake again to re-prepare it")
    mode = "r" if mmap else None
    return np.load(img_path, mmap_mode=mode), np.load(lab_path, mmap_mode=mode)


def load_fov(root: str | Path, case: str) -> np.ndarray | None:
    """The field-of-view mask (Z, Y, X) bool of ``case``, or ``None`` if the dataset has none."""
    path = Path(root) / "fov" / f"{case}.npy"
    return np.load(path) > 0 if path.is_file() else None


def mask_outside_fov(
    fov: np.ndarray | None, label: np.ndarray, predictions: dict[str, np.ndarray]
) -> None:
    """Set ``label`` and every prediction to background (0) outside ``fov``, in place, so that
    pixels outside the field of view count for no metric; no-op when ``fov`` is ``None``."""
    if fov is None:
        return
    outside = ~np.asarray(fov, dtype=bool)
    label[outside] = 0
    for prediction in predictions.values():
        prediction[outside] = 0


def _check_case(
    info: DatasetInfo, case: str, image: np.ndarray, label: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if not _CASE_NAME.match(case):
        raise DataError(f"invalid case name {case!r}")
    image = np.asarray(image)
    label = np.asarray(label)
    if image.ndim != 4:
        raise DataError(f"case {case!r}: image must be (C, Z, Y, X), got shape {image.shape}")
    if label.ndim != 3:
        raise DataError(f"case {case!r}: label must be (Z, Y, X), got shape {label.shape}")
    if image.shape[1:] != label.shape:
        raise DataError(
            f"case {case!r}: image shape {image.shape} does not match label shape {label.shape}"
        )
    if image.shape[0] != len(info.modalities):
        raise DataError(
            f"case {case!r}: image has {image.shape[0]} channels but the dataset has "
            f"{len(info.modalities)} modalities {info.modalities}"
        )
    if not np.all(np.isfinite(image)):
        raise DataError(f"case {case!r}: image contains NaN or infinite values")
    if label.size and (label.min() < 0 or label.max() >= len(info.class_names)):
        raise DataError(
            f"case {case!r}: label values {sorted(set(np.unique(label).tolist()))} outside "
            f"the allowed range [0, {len(info.class_names) - 1}]"
        )
    return image.astype(np.float32, copy=False), label.astype(np.uint8, copy=False)


def _save_fov(path: Path, case: str, fov: list[np.ndarray], shape: tuple[int, ...]) -> None:
    if len(fov) != 1 or np.shape(fov[0]) != shape:
        raise DataError(
            f"case {case!r}: the dataset has a field of view, so a (Z, Y, X) mask of shape {shape} "
            f"must come with the case"
        )
    np.save(path, (np.asarray(fov[0]) > 0).astype(np.uint8))


def write_prepared_dataset(
    root: str | Path,
    info: DatasetInfo,
    cases: Iterable[tuple[str, np.ndarray, np.ndarray] | tuple[str, np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    """Write a prepared dataset atomically: ``root`` appears only once it is complete.

    ``cases`` yields ``(case, image (C, Z, Y, X), label (Z, Y, X))``, plus a field-of-view mask
    (Z, Y, X) as a fourth item when ``info.fov``, and is consumed lazily (one case in memory at
    a time). ``dataset.json`` is written last, so ``info.spacing`` may be
    filled in while ``cases`` is being consumed. Every case of ``info.splits`` must be written
    and have a spacing. An existing ``root`` is replaced.
    """
    root = Path(root)
    info.validate()
    with atomic_path(root) as tmp:
        (tmp / "images").mkdir(parents=True)
        (tmp / "labels").mkdir()
        if info.fov:
            (tmp / "fov").mkdir()
        written: list[str] = []
        for case, image, label, *fov in cases:
            if case in written:
                raise DataError(f"case {case!r} written twice")
            image, label = _check_case(info, case, image, label)
            np.save(tmp / "images" / f"{case}.npy", np.ascontiguousarray(image))
            np.save(tmp / "labels" / f"{case}.npy", np.ascontiguousarray(label))
            if info.fov:
                _save_fov(tmp / "fov" / f"{case}.npy", case, fov, label.shape)
            written.append(case)
        missing = [c for c in info.cases if c not in written]
        if missing:
            raise DataError(
                f"dataset {info.name!r}: cases in the splits but not written: {missing}"
            )
        no_spacing = [c for c in written if c not in info.spacing]
        if no_spacing:
            raise DataError(f"dataset {info.name!r}: no spacing for cases {no_spacing}")
        bad = {c: s for c, s in info.spacing.items()
               if len(s) != 3 or not all(np.isfinite(s)) or min(s) <= 0}
        if bad:
            raise DataError(
                f"dataset {info.name!r}: spacing must be 3 positive finite values (z, y, x) "
                f"in mm: {bad}; fix the voxel sizes in the files' headers or the `spacing` config key"
            )
        (tmp / "dataset.json").write_text(json.dumps(info.to_dict(), indent=2) + "\n")
