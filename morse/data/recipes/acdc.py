"""``acdc``: ACDC cine cardiac MRI, RV / myocardium / LV at ED and ES, trained slice-wise.

Sources:
  * ``source: download`` - the organisers' database on the Creatis "Human Heart Project" Girder
    server (public, no registration): the ACDC folder is downloaded as one zip
    (``database/training/patientXXX/...``, ``database/testing/...``).
  * ``source: local`` + ``path`` - ``format: nifti``: a directory holding
    ``training/patientXXX/`` (or ``database/training/...``) with ``patientXXX_frameYY.nii.gz``,
    ``patientXXX_frameYY_gt.nii.gz`` and ``Info.cfg`` (``ED``, ``ES``, ``Group``, ...); or
    ``format: ssl4mis``: ACDC as SSL4MIS distributes it, the files the authors' 2D code reads
    (:mod:`morse.data.readers.ssl4mis`; ``h5py`` needed: the extra ``h5``). Without ``format``
    the layout found decides.

Prepare (nifti): the ED and ES frames of the 100 training patients become separate cases
(``patient001_ED``, ``patient001_ES``); labels kept (RV 1, myocardium 2, LV 3); intensity
z-scored per case; spacing from the headers. Prepare (ssl4mis): cases ``patientXXX_frameYY``;
training cases stacked from their slice files, validation and test cases from their volumes;
intensity as in the files (min-max per volume) unless ``intensity`` says otherwise; the files
carry no spacing, so 1 mm is recorded and said in ``dataset.json`` (HD95 in voxels, the paper's
unit).

Split (both frames of a patient always together): the authors' (SSL4MIS's lists) by default,
``split: stratified`` for this project's earlier split stratified by ``Group``; see
:mod:`morse.data.recipes.acdc_split`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import SPLIT_NAMES, DatasetInfo
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.prepared.from_ssl4mis import prepare_ssl4mis, ssl4mis_listing
from morse.data.readers.nifti import RawCase
from morse.data.readers.ssl4mis import find_root
from morse.data.recipes.acdc_split import (
    authors_split,
    split_request,
    ssl4mis_splits,
    stratified_split,
)
from morse.data.recipes.registry import DatasetRecipe, register_recipe
from morse.data.sources.archives import fetch_archive
from morse.data.sources.local import is_local, local_source_dir, record_local_source

# Girder folder "ACDC" of collection 637218c173e9f0047faa00fb on the Human Heart Project server
# (https://humanheart-project.creatis.insa-lyon.fr/database/#collection/637218c173e9f0047faa00fb),
# linked from https://www.creatis.insa-lyon.fr/Challenge/acdc/databases.html. The zip is built on
# the fly by the server: no checksum is published (UNVERIFIED; pin one with `checksum`).
ACDC_URL = (
    "https://humanheart-project.creatis.insa-lyon.fr/database/api/v1/folder/"
    "637218e573e9f0047faa00fc/download"
)
ACDC_FILENAME = "ACDC.zip"
ACDC_CHECKSUM: str | None = None

CLASS_NAMES = ["background", "right_ventricle", "myocardium", "left_ventricle"]
LABEL_MAP = {0: 0, 1: 1, 2: 2, 3: 3}
PHASES = ("ED", "ES")
FORMATS = ("nifti", "ssl4mis")

_LAYOUT = "training/patientXXX/ with patientXXX_frameYY[_gt].nii.gz and Info.cfg"


def _training_dir(root: Path) -> Path | None:
    candidates = [root / "training", root / "database" / "training", root]
    candidates += sorted(root.glob("*/training")) + sorted(root.glob("*/database/training"))
    for c in candidates:
        if c.is_dir() and any(p.is_dir() for p in c.glob("patient[0-9][0-9][0-9]")):
            return c
    return None


def read_info(path: Path) -> dict[str, str]:
    """Parse an ACDC ``Info.cfg`` (``key: value`` lines)."""
    if not path.is_file():
        raise MissingDataError(f"acdc: missing {path} (needed for the ED/ES frame numbers)")
    info = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    missing = [k for k in ("ED", "ES") if not re.fullmatch(r"\d+", info.get(k, ""))]
    if missing:
        raise DataError(f"acdc: {path} has no valid {missing} entry (expected e.g. 'ED: 1')")
    return info


def _detect_format(root: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise DataError(f"acdc: unknown `format` {fmt!r}; use one of {list(FORMATS)}")
        return fmt
    if _training_dir(root) is not None:
        return "nifti"
    if find_root(root) is not None:
        return "ssl4mis"
    raise DataError(
        f"acdc: {root} holds neither the organisers' NIfTI ({_LAYOUT}) nor SSL4MIS's files "
        f"(train_slices.list, val.list, test.list, data/slices/*.h5, data/*.h5); fix `path`"
    )


def _local_root(name: str, entry: dict[str, Any]) -> tuple[Path, str]:
    root = local_source_dir(name, entry, f"the ACDC data ({_LAYOUT}, or SSL4MIS's h5 files)")
    fmt = _detect_format(root, entry.get("format"))
    if fmt == "nifti" and _training_dir(root) is None:
        raise DataError(f"acdc: no {_LAYOUT} found under {root}; fix `path` or `format`")
    return root, fmt


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Download and extract the ACDC zip, or check and record a local copy."""
    if is_local(entry):
        root, fmt = _local_root(name, entry)
        if fmt == "ssl4mis":
            ssl4mis_listing(root)  # h5py installed, lists readable, every entry has its file
        record_local_source(raw_dir, root, fmt)
        return
    if entry.get("format", "nifti") != "nifti":
        raise DataError(f"acdc: the download is the organisers' NIfTI; `format: {entry['format']}` "
                        f"needs `source: local` and `path`")
    fetch_archive(entry.get("url") or ACDC_URL, raw_dir, filename=ACDC_FILENAME,
                  checksum=entry.get("checksum") or ACDC_CHECKSUM)


def _patient_splits(entry: dict[str, Any], groups: dict[str, str]) -> tuple[dict[str, list[str]], str]:
    """Patients per split and how they were chosen."""
    strategy, params = split_request(entry.get("split"))
    if strategy == "lists":  # accept patient ids or case ids ("patient001_ED")
        return {s: sorted({str(c).split("_")[0] for c in params.get(s, [])}) for s in SPLIT_NAMES}, strategy
    if strategy == "authors":
        return authors_split(), strategy
    return stratified_split(groups, test_fraction=params["test_fraction"],
                            val_fraction=params["val_fraction"], seed=params["seed"]), strategy


def _missing_patient(patient: str, split: str, train_dir: Path, strategy: str) -> MissingDataError:
    fix = ("the authors' split names all 100 training patients: restore it, or for a partial "
           "copy set `split: stratified` or list the patients under `split`" if strategy == "authors"
           else "restore it or remove it from `split` in the config")
    return MissingDataError(
        f"acdc: {patient} of the {split!r} split is missing: expected {train_dir / patient}/ "
        f"with Info.cfg and the ED/ES frames; {fix}"
    )


def _prepare_nifti(name: str, entry: dict[str, Any], root: Path, out_dir: Path) -> DatasetInfo:
    train_dir = _training_dir(root)
    if train_dir is None:
        raise MissingDataError(f"acdc: no {_LAYOUT} found under {root}")
    patients = sorted(p.name for p in train_dir.glob("patient[0-9][0-9][0-9]") if p.is_dir())
    infos = {p: read_info(train_dir / p / "Info.cfg") for p in patients}
    groups = {p: infos[p].get("Group", "unknown") for p in patients}
    psplits, strategy = _patient_splits(entry, groups)
    cases: list[RawCase] = []
    splits: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
    for s in SPLIT_NAMES:
        for p in psplits[s]:
            if p not in infos:
                raise _missing_patient(p, s, train_dir, strategy)
            for phase in PHASES:
                frame = int(infos[p][phase])
                img = train_dir / p / f"{p}_frame{frame:02d}.nii.gz"
                gt = train_dir / p / f"{p}_frame{frame:02d}_gt.nii.gz"
                for f in (img, gt):
                    if not f.is_file():
                        raise MissingDataError(
                            f"acdc: case {p}_{phase} is missing {f} (Info.cfg says {phase}: "
                            f"{frame}). Restore the file or remove {p} from the split."
                        )
                cases.append(RawCase(f"{p}_{phase}", (img,), gt))
                splits[s].append(f"{p}_{phase}")
    return prepare_nifti_dataset(
        root, out_dir, name=name, spatial_dims=2, splits=splits,
        intensity={"mode": "zscore", **entry.get("intensity", {})},
        class_names=CLASS_NAMES, modalities=["cine-MRI"], label_map=LABEL_MAP, cases=cases,
        regions=entry.get("regions"),
    )


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """ACDC (the organisers' NIfTI or SSL4MIS's h5 files) -> prepared format, the authors' split."""
    if is_local(entry):
        root, fmt = _local_root(name, entry)
    else:
        root, fmt = Path(raw_dir), "nifti"
        if not root.is_dir():
            raise MissingDataError(f"raw data directory not found: {root}. Run the fetch step first.")
    if fmt == "ssl4mis":
        listing = ssl4mis_listing(root)
        splits, split_text = ssl4mis_splits(entry.get("split"), listing)
        return prepare_ssl4mis(name, entry, listing, out_dir, splits=splits, split_text=split_text,
                               class_names=CLASS_NAMES)
    return _prepare_nifti(name, entry, root, out_dir)


register_recipe(DatasetRecipe("acdc", 2, fetch, prepare, (__doc__ or "").split("\n")[0]))
