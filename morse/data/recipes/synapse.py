"""``synapse``: BTCV abdominal CT (Synapse multi-organ), 8 organs, trained slice-wise (TransUNet protocol).

Sources:
  * ``source: download`` - ``RawData.zip`` of the "Multi-Atlas Labeling Beyond the Cranial Vault"
    Abdomen data from Synapse (project syn3193805) with ``synapseclient`` (optional dependency,
    ``pip install synapseclient``) and a personal access token in ``SYNAPSE_AUTH_TOKEN``; or any
    mirror of ``RawData.zip`` given as ``url`` (then verified against ``checksum``).
  * ``source: local`` + ``path`` - ``format: nifti``: the raw BTCV NIfTI
    (``RawData/Training/img/img0001.nii.gz``, ``.../label/label0001.nii.gz``), or ``format:
    transunet``: TransUNet's preprocessed files (``train_npz/case0005_slice000.npz`` with keys
    image, label; ``test_vol_h5/case0001.npy.h5`` with image, label; ``h5py`` needed: the extra
    ``h5``).

Prepare: HU clipped to [-125, 275] and scaled to [0, 1]; BTCV labels remapped to 8 organs (all
other organs -> background); the fixed TransUNet split (18 training / 12 test cases); spacing from
the NIfTI headers (the TransUNet files carry none: 1 mm is recorded, so hd95 in "mm" is in voxels
there, as in TransUNet's own evaluation).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from morse.common import atomic_path
from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import SPLIT_NAMES, DatasetInfo, write_prepared_dataset
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.prepared.intensity import normalize_intensity
from morse.data.prepared.splits import split_cases
from morse.data.readers.h5 import read_image_label
from morse.data.readers.nifti import RawCase
from morse.data.recipes.registry import DatasetRecipe, register_recipe
from morse.data.sources.archives import extract_archive, fetch_archive
from morse.data.sources.download import (
    DownloadError,
    default_cache_dir,
    file_checksum,
    parse_checksum,
    verify_checksum,
)
from morse.data.sources.local import is_local, local_source_dir, record_local_source

log = logging.getLogger(__name__)

SYNAPSE_PROJECT_ID = "syn3193805"  # "Multi-Atlas Labeling Beyond the Cranial Vault" (BTCV)
# Synapse entity of Abdomen/RawData.zip. Cited as "RawData: syn3379050" by several independent
# public repositories (download scripts of nnU-Net-style converters, MA-SAM, SAM-for-BTCV);
# not checked against synapse.org itself (no account from this build environment).
SYNAPSE_RAWDATA_ID = "syn3379050"
RAWDATA_FILENAME = "RawData.zip"
# MD5 of RawData.zip as published by one third-party download script (XrayTo3DPreprocess);
# UNVERIFIED. Synapse downloads are verified by synapseclient against the MD5 Synapse stores; this
# constant is enforced only for mirrors (`url`) unless the config sets `checksum`.
RAWDATA_CHECKSUM = "md5:e8e3fc9604eadc34c47067e2332f8ea1"
TOKEN_ENV = "SYNAPSE_AUTH_TOKEN"

# TransUNet's fixed split (PAPER.md "Datasets"), by BTCV case number.
TRAIN_CASES = tuple(f"case{n}" for n in ["0005", "0006", "0007", "0009", "0010", "0021", "0023", "0024", "0026", "0027", "0028", "0030", "0031", "0033", "0034", "0037", "0039", "0040"])
TEST_CASES = tuple(f"case{n}" for n in ["0001", "0002", "0003", "0004", "0008", "0022", "0025", "0029", "0032", "0035", "0036", "0038"])

CLASS_NAMES = [
    "background", "aorta", "gallbladder", "left_kidney", "right_kidney",
    "liver", "pancreas", "spleen", "stomach",
]
# BTCV label -> class index above; the other BTCV organs (esophagus 5, IVC 9, portal/splenic
# vein 10, adrenal glands 12, 13) become background. Values outside 0..13 are an error.
BTCV_ORGANS = {8: 1, 4: 2, 3: 3, 2: 4, 6: 5, 11: 6, 1: 7, 7: 8}
BTCV_LABEL_MAP = {v: BTCV_ORGANS.get(v, 0) for v in range(14)}
HU_WINDOW = [-125, 275]

FORMATS = ("nifti", "transunet")


def case_id(name: str | int) -> str:
    """``"0005"``, ``5``, ``"img0005"``, ``"case0005"`` -> ``"case0005"``."""
    m = re.search(r"(\d+)$", str(name))
    if not m:
        raise DataError(f"invalid BTCV case id {name!r}; use e.g. 'case0005' or '0005'")
    return f"case{int(m.group(1)):04d}"


# --------------------------------------------------------------------------- layouts


def _training_dir(root: Path) -> Path | None:
    """The BTCV ``Training`` directory (with ``img/`` and ``label/``) under ``root``."""
    candidates = [root / "RawData" / "Training", root / "Training", root]
    candidates += sorted(root.glob("*/RawData/Training")) + sorted(root.glob("*/Training"))
    for c in candidates:
        if (c / "img").is_dir() and (c / "label").is_dir():
            return c
    return None


def _transunet_dir(root: Path) -> Path | None:
    for c in (root, root / "Synapse", *sorted(root.glob("*"))):
        if (c / "train_npz").is_dir() or (c / "test_vol_h5").is_dir():
            return c
    return None


def _detect_format(root: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise DataError(f"synapse: unknown format {fmt!r}; use one of {list(FORMATS)}")
        return fmt
    if _training_dir(root) is not None:
        return "nifti"
    if _transunet_dir(root) is not None:
        return "transunet"
    raise DataError(
        f"synapse: {root} holds neither the raw BTCV NIfTI (RawData/Training/img/img0001.nii.gz, "
        f"RawData/Training/label/label0001.nii.gz) nor TransUNet's preprocessed files "
        f"(train_npz/*.npz, test_vol_h5/*.npy.h5); fix `path` or `format`"
    )


# --------------------------------------------------------------------------- fetch


def _token_help() -> str:
    return (
        f"the BTCV data (Synapse project {SYNAPSE_PROJECT_ID}) needs a free Synapse account: "
        f"(1) register at https://www.synapse.org; (2) open "
        f"https://www.synapse.org/#!Synapse:{SYNAPSE_PROJECT_ID} and accept the data use terms "
        f"(join the challenge); (3) create a personal access token with the 'view' and "
        f"'download' scopes (Account Settings -> Personal Access Tokens); (4) `export "
        f"{TOKEN_ENV}=<token>` and run the fetch step again. Or download {RAWDATA_FILENAME} "
        f"({SYNAPSE_RAWDATA_ID}) by hand, unzip it, and set `source: local`, `path: <dir>`."
    )


def _synapse_download(cache: Path, checksum: str | None) -> Path:
    """RawData.zip via synapseclient into ``cache`` (reused when already there)."""
    dest = cache / RAWDATA_FILENAME
    if dest.is_file():
        if checksum:
            verify_checksum(dest, checksum)
        log.info("using cached %s", dest)
        return dest
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise DownloadError(f"{TOKEN_ENV} is not set: {_token_help()}")
    try:
        import synapseclient  # optional dependency
    except ImportError as e:
        raise DownloadError(
            "downloading BTCV from Synapse needs the optional package synapseclient: "
            "`pip install synapseclient` (or set `source: local` with a downloaded copy)"
        ) from e
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache / "synapse-download") as tmp:
        tmp.mkdir()
        try:
            syn = synapseclient.Synapse()
            syn.login(authToken=token, silent=True)
            ent = syn.get(SYNAPSE_RAWDATA_ID, downloadLocation=str(tmp), ifcollision="overwrite.local")
            got = Path(ent.path)
        except Exception as e:  # synapseclient raises many types; never echo the token
            msg = str(e).replace(token, "***")
            raise DownloadError(
                f"Synapse download of {RAWDATA_FILENAME} ({SYNAPSE_RAWDATA_ID}) failed: "
                f"{type(e).__name__}: {msg}. Check that {TOKEN_ENV} is a valid token with the "
                f"'download' scope and that you accepted the terms of project "
                f"{SYNAPSE_PROJECT_ID}. {_token_help()}"
            ) from e
        if checksum:
            verify_checksum(got, checksum)
        else:
            algo, expected = parse_checksum(RAWDATA_CHECKSUM)
            if file_checksum(got, algo) != expected:
                log.warning(
                    "%s from Synapse does not match the (unverified) published %s; Synapse "
                    "verified its own MD5, continuing", RAWDATA_FILENAME, RAWDATA_CHECKSUM,
                )
        os.replace(got, dest)
    return dest


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Download and extract RawData.zip (Synapse or a mirror), or check and record a local copy."""
    if is_local(entry):
        root = local_source_dir(name, entry, "the BTCV NIfTI or TransUNet's npz/h5 files")
        fmt = _detect_format(root, entry.get("format"))
        record_local_source(raw_dir, root, fmt)
        return
    if entry.get("url"):
        fetch_archive(entry["url"], raw_dir, filename=RAWDATA_FILENAME,
                      checksum=entry.get("checksum") or RAWDATA_CHECKSUM)
        return
    archive = _synapse_download(default_cache_dir(raw_dir), entry.get("checksum"))
    extract_archive(archive, raw_dir)


# --------------------------------------------------------------------------- prepare


def _splits(entry: dict[str, Any], available: list[str] | None = None) -> dict[str, list[str]]:
    split = entry.get("split", {})
    if any(k in split for k in SPLIT_NAMES):
        return {s: [case_id(c) for c in split.get(s, [])] for s in SPLIT_NAMES}
    if "test_fraction" in split and available is not None:
        return split_cases(available, test_fraction=split["test_fraction"],
                           val_fraction=split.get("val_fraction", 0.0), split_seed=split.get("seed", 0))
    return fixed_split(split.get("val_fraction", 0.0), split.get("seed", 0))


def fixed_split(val_fraction: float = 0.0, seed: int = 0) -> dict[str, list[str]]:
    """TransUNet's fixed split; with ``val_fraction`` > 0, ``max(1, round(val_fraction * 30))``
    of its 18 training cases (drawn with ``numpy.random.default_rng(seed)``) become validation
    cases. The 12 test cases never change."""
    train = sorted(TRAIN_CASES)
    n_val = max(1, round(val_fraction * (len(TRAIN_CASES) + len(TEST_CASES)))) if val_fraction > 0 else 0
    if n_val >= len(train):
        raise DataError(f"synapse: split.val_fraction {val_fraction} takes all {len(train)} training cases; "
                        "use a smaller fraction (0.1: 3 cases)")
    chosen = {train[i] for i in np.random.default_rng(seed).permutation(len(train))[:n_val]}
    return {"train": [c for c in train if c not in chosen], "val": sorted(chosen), "test": list(TEST_CASES)}


def _nifti_cases(train_dir: Path) -> dict[str, RawCase]:
    cases = {}
    for img in sorted((train_dir / "img").glob("img*.nii*")):
        c = case_id(img.name.split(".")[0])
        num = c[len("case"):]
        label = train_dir / "label" / img.name.replace("img", "label", 1)
        cases[c] = RawCase(c, (img,), label if label.exists() else train_dir / "label" / f"label{num}.nii.gz")
    return cases


def _missing_case(case: str, split: str, where: str) -> MissingDataError:
    return MissingDataError(
        f"synapse: case {case} of the {split!r} split is missing: expected {where}. Restore the "
        f"file(s) (re-download or re-extract), or remove the case from `split` in the config."
    )


def _prepare_nifti(name: str, entry: dict[str, Any], root: Path, out_dir: Path) -> DatasetInfo:
    train_dir = _training_dir(root)
    if train_dir is None:
        raise MissingDataError(
            f"synapse: no BTCV Training/img and Training/label directories under {root}"
        )
    available = _nifti_cases(train_dir)
    splits = _splits(entry, sorted(available))
    for split, cases in splits.items():
        for c in cases:
            num = c[len("case"):]
            if c not in available:
                raise _missing_case(c, split, str(train_dir / "img" / f"img{num}.nii.gz"))
            if not available[c].label.is_file():
                raise _missing_case(c, split, str(available[c].label))
    return prepare_nifti_dataset(
        root, out_dir, name=name, spatial_dims=2, splits=splits,
        intensity={"mode": "window", "window": HU_WINDOW, **entry.get("intensity", {})},
        class_names=CLASS_NAMES, modalities=["CT"], label_map=BTCV_LABEL_MAP,
        cases=[available[c] for s in SPLIT_NAMES for c in splits[s]],
        regions=entry.get("regions"),
    )


def _slice_index(p: Path) -> int:
    m = re.search(r"_slice(\d+)", p.name)
    return int(m.group(1)) if m else 0


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as d:
            return np.asarray(d["image"]), np.asarray(d["label"])
    except Exception as e:
        raise DataError(f"cannot read {path} (corrupt, or no 'image'/'label' keys): {e}") from e


def _prepare_transunet(name: str, entry: dict[str, Any], root: Path, out_dir: Path) -> DatasetInfo:
    base = _transunet_dir(root)
    if base is None:
        raise MissingDataError(f"synapse: no train_npz/ or test_vol_h5/ under {root}")
    npz_dir, h5_dir = base / "train_npz", base / "test_vol_h5"
    slices: dict[str, list[Path]] = {}
    for p in sorted(npz_dir.glob("case*_slice*.npz")) if npz_dir.is_dir() else []:
        slices.setdefault(case_id(p.name.split("_slice")[0]), []).append(p)
    vols = {case_id(p.name.split(".")[0]): p
            for p in (sorted(h5_dir.glob("case*.npy.h5")) if h5_dir.is_dir() else [])}
    splits = _splits(entry, sorted(set(slices) | set(vols)))
    for split, cases in splits.items():
        for c in cases:
            if c not in slices and c not in vols:
                raise _missing_case(c, split, f"{npz_dir}/{c}_slice*.npz or {h5_dir}/{c}.npy.h5")
    # TransUNet's files are already windowed to [-125, 275] and scaled to [0, 1].
    intensity = {"mode": "none", **entry.get("intensity", {})}
    info = DatasetInfo(
        name=name, spatial_dims=2, modalities=["CT"], class_names=list(CLASS_NAMES),
        splits=splits, spacing={}, regions=dict(entry.get("regions") or {}),
    )
    info.validate()
    n = len(CLASS_NAMES)
    def check_label(lab: np.ndarray, path: Path, case: str) -> np.ndarray:
        bad = [v for v in np.unique(lab).tolist() if v != round(v) or not 0 <= v < n]
        if bad:
            raise DataError(
                f"case {case!r}: label in {path} has values {bad} outside 0..{n - 1} "
                f"({CLASS_NAMES}); the file is corrupt or not from TransUNet's preprocessing"
            )
        return lab.astype(np.uint8)

    def convert() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for c in tqdm(info.cases, desc=f"prepare {name}", unit="case"):
            if c in slices:
                imgs, labs = [], []
                for p in sorted(slices[c], key=_slice_index):
                    img, lab = _read_npz(p)
                    if img.ndim != 2 or img.shape != lab.shape or (imgs and img.shape != imgs[0].shape):
                        raise DataError(f"case {c!r}: {p} has image {img.shape} / label {lab.shape}; "
                                        f"expected matching 2-D slices of one size")
                    imgs.append(img)
                    labs.append(check_label(lab, p, c))
                image, label = np.stack(imgs), np.stack(labs)
            else:
                image, label = read_image_label(vols[c], "TransUNet's test_vol_h5")
                if image.ndim != 3 or image.shape != label.shape:
                    raise DataError(f"case {c!r}: {vols[c]} has image {image.shape} / label "
                                    f"{label.shape}; expected matching (Z, Y, X) volumes")
                label = check_label(label, vols[c], c)
            if not np.all(np.isfinite(image)):
                raise DataError(f"case {c!r}: image contains NaN or infinite values")
            info.spacing[c] = [1.0, 1.0, 1.0]
            yield c, normalize_intensity(image[None].astype(np.float32), intensity), label

    log.warning("synapse (transunet format): the files carry no voxel spacing; 1 mm is recorded")
    write_prepared_dataset(out_dir, info, convert())
    return info


def _root(name: str, entry: dict[str, Any], raw_dir: Path) -> Path:
    if is_local(entry):
        return local_source_dir(name, entry, "the BTCV NIfTI or TransUNet's npz/h5 files")
    if not Path(raw_dir).is_dir():
        raise MissingDataError(f"raw data directory not found: {raw_dir}. Run the fetch step first.")
    return Path(raw_dir)


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """BTCV (NIfTI or TransUNet files) -> prepared format, TransUNet protocol."""
    root = _root(name, entry, raw_dir)
    fmt = _detect_format(root, entry.get("format") if is_local(entry) else "nifti")
    if fmt == "transunet":
        return _prepare_transunet(name, entry, root, out_dir)
    return _prepare_nifti(name, entry, root, out_dir)


register_recipe(DatasetRecipe("synapse", 2, fetch, prepare, (__doc__ or "").split("\n")[0]))

__all__ = ["CLASS_NAMES", "TEST_CASES", "TRAIN_CASES", "case_id", "fetch", "fixed_split", "prepare"]
