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

from morse.data.download import fetch_archive, is_local, local_source_dir, record_local_source
from morse.data.prepare import RawCase, prepare_nifti_dataset, split_cases
from morse.data.prepared import SPLIT_NAMES, DataError, DatasetInfo, MissingDataError
from morse.data.sources import DatasetRecipe, register_recipe

# The URL and MD5 of monai.apps.DecathlonDataset (monai/apps/datasets.py, MONAI 1.6.1).
MSD_URL = "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task01_BrainTumour.tar"
MSD_FILENAME = "Task01_BrainTumour.tar"
MSD_CHECKSUM = "md5:240a19d752f0d9e9101544901065d872"
MSD_TASK = "Task01_BrainTumour"

MODALITIES = ["FLAIR", "T1", "T1c", "T2"]
BRATS_SUFFIXES = ("flair", "t1", "t1ce", "t2")  # official file suffixes, same order
CLASS_NAMES = ["background", "edema", "non_enhancing_tumor", "enhancing_tumor"]
MSD_LABEL_MAP = {0: 0, 1: 1, 2: 2, 3: 3}
BRATS_LABEL_MAP = {0: 0, 2: 1, 1: 2, 4: 3}  # official BraTS -> MSD convention
REGIONS = {"WT": [1, 2, 3], "TC": [2, 3], "ET": [3]}
SPLIT_DEFAULTS = {"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0}
FORMATS = ("msd", "brats")


def _msd_dir(root: Path) -> Path | None:
    for c in (root, root / MSD_TASK, *sorted(root.glob("*"))):
        if (c / "imagesTr").is_dir() and (c / "labelsTr").is_dir():
            return c
    return None


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
    if _msd_dir(root) is not None:
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
    fetch_archive(entry.get("url") or MSD_URL, raw_dir, filename=MSD_FILENAME,
                  checksum=entry.get("checksum") or MSD_CHECKSUM)


def _splits(entry: dict[str, Any], available: list[str]) -> dict[str, list[str]]:
    split = entry.get("split", {})
    if any(k in split for k in SPLIT_NAMES):
        return {s: [str(c) for c in split.get(s, [])] for s in SPLIT_NAMES}
    p = {**SPLIT_DEFAULTS, **split}
    return split_cases(available, test_fraction=p["test_fraction"],
                       val_fraction=p["val_fraction"], split_seed=p["seed"])


def _msd_cases(task: Path) -> dict[str, RawCase]:
    import json

    meta = task / "dataset.json"
    cases: dict[str, RawCase] = {}
    if meta.is_file():
        try:
            training = json.loads(meta.read_text())["training"]
        except (json.JSONDecodeError, KeyError) as e:
            raise DataError(f"brats: invalid {meta}: {e}") from e
        pairs = [(task / t["image"], task / t["label"]) for t in training]
    else:
        pairs = [(p, task / "labelsTr" / p.name) for p in sorted((task / "imagesTr").glob("*.nii*"))
                 if not p.name.startswith(".")]
    for img, lab in pairs:
        case = img.name.split(".")[0]
        cases[case] = RawCase(case, (img,), lab)
    return cases


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
        task = _msd_dir(root)
        if task is None:
            raise MissingDataError(f"brats: no {MSD_TASK}/imagesTr and labelsTr under {root}")
        available, label_map = _msd_cases(task), MSD_LABEL_MAP
    else:
        available, label_map = _brats_cases(root), BRATS_LABEL_MAP
    if not available:
        raise DataError(f"brats: no cases found under {root}")
    splits = _splits(entry, sorted(available))
    for s, cases in splits.items():
        for c in cases:
            if c not in available:
                raise MissingDataError(
                    f"brats: case {c} of the {s!r} split is missing under {root}; restore it or "
                    f"remove it from `split` in the config"
                )
    return prepare_nifti_dataset(
        root, out_dir, name=name, spatial_dims=3, splits=splits,
        intensity={"mode": "zscore", **entry.get("intensity", {})},
        class_names=CLASS_NAMES, modalities=MODALITIES, label_map=label_map,
        cases=[available[c] for s in SPLIT_NAMES for c in splits[s]],
        regions=entry.get("regions") or REGIONS,
    )


register_recipe(DatasetRecipe("brats", 3, fetch, prepare, (__doc__ or "").split("\n")[0]))
