"""``brats``: multi-modal brain tumour MRI (FLAIR, T1, T1c, T2), volumetric, regions WT / TC / ET.

Sources:
  * ``source: download`` - Medical Segmentation Decathlon ``Task01_BrainTumour.tar`` (484
    labelled BraTS 2016/17 cases, no registration) from the mirror MONAI's ``DecathlonDataset``
    uses, verified with MONAI's MD5.
  * ``source: local`` + ``path`` - ``format: msd``: an extracted ``Task01_BrainTumour``
    (``imagesTr/``, ``labelsTr/``, ``dataset.json``); or ``format: brats``: an official BraTS
    2019-2021 training directory, one folder per case (``BraTS20XX_..._NNNNN/`` with ``*_flair``,
    ``*_t1``, ``*_t1ce``, ``*_t2``, ``*_seg`` ``.nii.gz``; nested HGG/LGG folders are found too).

Prepare: channels in the order FLAIR, T1, T1c, T2 (MSD's own order), each z-scored over the brain
(nonzero voxels); labels in the MSD convention 1 edema, 2 non-enhancing / necrotic tumour core,
3 enhancing tumour (official BraTS labels are mapped: 2 edema -> 1, 1 NCR/NET -> 2, 4 ET -> 3);
regions WT = {1, 2, 3}, TC = {2, 3}, ET = {3}; split: sorted case ids permuted with
``numpy.random.default_rng(0)``: 20 % test, 10 % val, 70 % train (``split_cases``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import SPLIT_NAMES, DatasetInfo
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.prepared.splits import entry_splits
from morse.data.readers.decathlon import find_task_dir, task_cases
from morse.data.readers.nifti import RawCase
from morse.data.recipes.registry import DatasetRecipe, register_recipe
from morse.data.sources.decathlon_tasks import fetch_task
from morse.data.sources.local import is_local, local_source_dir, record_local_source

MSD_TASK = "Task01_BrainTumour"  # URL, MD5: MONAI's table (morse.data.sources.decathlon_tasks)

MODALITIES = ["FLAIR", "T1", "T1c", "T2"]
BRATS_SUFFIXES = ("flair", "t1", "t1ce", "t2")  # official file suffixes, same order
CLASS_NAMES = ["background", "edema", "non_enhancing_tumor", "enhancing_tumor"]
MSD_LABEL_MAP = {0: 0, 1: 1, 2: 2, 3: 3}
BRATS_LABEL_MAP = {0: 0, 2: 1, 1: 2, 4: 3}  # official BraTS -> MSD convention
REGIONS = {"WT": [1, 2, 3], "TC": [2, 3], "ET": [3]}
SPLIT_DEFAULTS = {"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0}
FORMATS = ("msd", "brats")


def _nii(folder: Path, stem: str) -> Path | None:
    for ext in (".nii.gz", ".nii"):
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    return None


def _brats_cases(root: Path) -> dict[str, RawCase]:
    """Official BraTS layout: every folder holding ``<folder>_flair.nii[.gz]`` is a case."""
    cases: dict[str, RawCase] = {}
    for flair in sorted(root.rglob("*_flair.nii*")):
        folder = flair.parent
        case = folder.name
        images = [_nii(folder, f"{case}_{s}") for s in BRATS_SUFFIXES]
        seg = _nii(folder, f"{case}_seg") or next(iter(sorted(folder.glob("*[Ss]eg*.nii*"))), None)
        missing = [f"{case}_{s}.nii.gz" for s, p in zip(BRATS_SUFFIXES, images, strict=True) if p is None]
        if seg is None:
            missing.append(f"{case}_seg.nii.gz")
        if missing:
            raise MissingDataError(
                f"brats: case {case} in {folder} lacks {missing}; restore the files or delete "
                f"the case folder"
            )
        if case in cases:
            raise DataError(f"brats: case {case} appears twice under {root}")
        cases[case] = RawCase(case, tuple(images), seg)  # type: ignore[arg-type]
    return cases


def _detect_format(root: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise DataError(f"brats: unknown format {fmt!r}; use one of {list(FORMATS)}")
        return fmt
    if find_task_dir(root, MSD_TASK) is not None:
        return "msd"
    if next(iter(root.rglob("*_flair.nii*")), None) is not None:
        return "brats"
    raise DataError(
        f"brats: {root} holds neither an MSD {MSD_TASK} (imagesTr/, labelsTr/, dataset.json) nor "
        f"official BraTS case folders (*_flair/_t1/_t1ce/_t2/_seg.nii.gz); fix `path` or `format`"
    )


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Download and extract the MSD tar, or check and record a local copy."""
    if is_local(entry):
        root = local_source_dir(name, entry, "MSD Task01_BrainTumour or BraTS case folders")
        record_local_source(raw_dir, root, _detect_format(root, entry.get("format")))
        return
    fetch_task(name, entry, raw_dir, MSD_TASK)


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """MSD or official BraTS -> prepared format (4 z-scored channels, MSD labels, regions)."""
    if is_local(entry):
        root = local_source_dir(name, entry, "MSD Task01_BrainTumour or BraTS case folders")
        fmt = _detect_format(root, entry.get("format"))
    else:
        root, fmt = Path(raw_dir), "msd"
        if not root.is_dir():
            raise MissingDataError(f"raw data directory not found: {root}. Run the fetch step first.")
    if fmt == "msd":
        task = find_task_dir(root, MSD_TASK)
        if task is None:
            raise MissingDataError(f"brats: no {MSD_TASK}/imagesTr and labelsTr under {root}")
        available, label_map = task_cases(task), MSD_LABEL_MAP
    else:
        available, label_map = _brats_cases(root), BRATS_LABEL_MAP
    if not available:
        raise DataError(f"brats: no cases found under {root}")
    splits = entry_splits(entry, sorted(available), root, SPLIT_DEFAULTS)
    return prepare_nifti_dataset(
        root, out_dir, name=name, spatial_dims=3, splits=splits,
        intensity={"mode": "zscore", **entry.get("intensity", {})},
        class_names=CLASS_NAMES, modalities=MODALITIES, label_map=label_map,
        cases=[available[c] for s in SPLIT_NAMES for c in splits[s]],
        regions=entry.get("regions") or REGIONS,
    )


register_recipe(DatasetRecipe("brats", 3, fetch, prepare, (__doc__ or "").split("\n")[0]))
