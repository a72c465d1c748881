"""``acdc``: ACDC cine cardiac MRI, RV / myocardium / LV at ED and ES, trained slice-wise.

Sources:
  * ``source: download`` - the organisers' database on the Creatis "Human Heart Project" Girder
    server (public, no registration): the ACDC folder is downloaded as one zip
    (``database/training/patientXXX/...``, ``database/testing/...``).
  * ``source: local`` + ``path`` - a directory holding ``training/patientXXX/`` (or
    ``database/training/...``) with ``patientXXX_frameYY.nii.gz``, ``patientXXX_frameYY_gt.nii.gz``
    and ``Info.cfg`` (``ED``, ``ES``, ``Group``, ...).

Prepare: the ED and ES frames of the 100 training patients become separate cases
(``patient001_ED``, ``patient001_ES``); labels kept (RV 1, myocardium 2, LV 3); intensity
z-scored per case; spacing from the headers. Split (both frames of a patient always together):
patients stratified by ``Group`` (NOR, MINF, DCM, HCM, RV: 20 each), shuffled within each group
with ``numpy.random.default_rng(seed)`` (seed 0, groups in sorted order), then ranked by their
relative position in their group; the first 20 % go to test, the next 10 % to val, the rest to
train, i.e. 14 / 2 / 4 patients of every group (70 / 10 / 20).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import SPLIT_NAMES, DatasetInfo
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.readers.nifti import RawCase
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
SPLIT_DEFAULTS = {"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0}

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


def stratified_split(
    groups: dict[str, str], *, test_fraction: float, val_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Patients -> train/val/test, stratified by group (see the module docstring)."""
    rng = np.random.default_rng(seed)
    keyed = []
    for group in sorted(set(groups.values())):
        members = sorted(p for p, g in groups.items() if g == group)
        for rank, i in enumerate(rng.permutation(len(members))):
            keyed.append(((rank + 0.5) / len(members), group, members[i]))
    order = [p for _, _, p in sorted(keyed)]
    n_test = max(1, round(test_fraction * len(order))) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * len(order))) if val_fraction > 0 else 0
    return {
        "test": sorted(order[:n_test]),
        "val": sorted(order[n_test:n_test + n_val]),
        "train": sorted(order[n_test + n_val:]),
    }


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Download and extract the ACDC zip, or check and record a local copy."""
    if is_local(entry):
        root = local_source_dir(name, entry, f"the ACDC data ({_LAYOUT})")
        if _training_dir(root) is None:
            raise DataError(f"acdc: no {_LAYOUT} found under {root}; fix `path`")
        record_local_source(raw_dir, root, "acdc")
        return
    fetch_archive(entry.get("url") or ACDC_URL, raw_dir, filename=ACDC_FILENAME,
                  checksum=entry.get("checksum") or ACDC_CHECKSUM)


def _patient_splits(entry: dict[str, Any], groups: dict[str, str]) -> dict[str, list[str]]:
    split = entry.get("split", {})
    if any(k in split for k in SPLIT_NAMES):
        out = {}
        for s in SPLIT_NAMES:  # accept patient ids or case ids ("patient001_ED")
            out[s] = sorted({str(c).split("_")[0] for c in split.get(s, [])})
        return out
    params = {**SPLIT_DEFAULTS, **split}
    return stratified_split(groups, test_fraction=params["test_fraction"],
                            val_fraction=params["val_fraction"], seed=params["seed"])


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """ACDC training patients -> ED and ES cases, z-scored, fixed stratified patient split."""
    root = (local_source_dir(name, entry, f"the ACDC data ({_LAYOUT})") if is_local(entry)
            else Path(raw_dir))
    if not root.is_dir():
        raise MissingDataError(f"raw data directory not found: {root}. Run the fetch step first.")
    train_dir = _training_dir(root)
    if train_dir is None:
        raise MissingDataError(f"acdc: no {_LAYOUT} found under {root}")
    patients = sorted(p.name for p in train_dir.glob("patient[0-9][0-9][0-9]") if p.is_dir())
    infos = {p: read_info(train_dir / p / "Info.cfg") for p in patients}
    groups = {p: infos[p].get("Group", "unknown") for p in patients}
    psplits = _patient_splits(entry, groups)
    cases: list[RawCase] = []
    splits: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
    for s in SPLIT_NAMES:
        for p in psplits[s]:
            if p not in infos:
                raise MissingDataError(
                    f"acdc: patient {p} of the {s!r} split is missing: expected "
                    f"{train_dir / p}/ with Info.cfg and the ED/ES frames. Restore it or remove "
                    f"it from `split` in the config."
                )
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


register_recipe(DatasetRecipe("acdc", 2, fetch, prepare, (__doc__ or "").split("\n")[0]))
