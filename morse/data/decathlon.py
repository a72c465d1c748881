"""The Medical Segmentation Decathlon: MONAI's download table and the task folder layout.

URLs and MD5s are read from the installed MONAI (``monai.apps.DecathlonDataset.resource`` and
``.md5``), never copied here, so a MONAI release that moves the mirror moves it for us too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from morse.data.errors import DataError, MissingDataError
from morse.data.nifti import NIBABEL_ENDINGS, RawCase, case_id
from morse.data.sources.archives import fetch_archive
from morse.data.sources.local import is_local, local_source_dir, record_local_source

__all__ = [
    "DecathlonTask",
    "decathlon_task",
    "decathlon_tasks",
    "fetch_task",
    "find_task_dir",
    "read_task_meta",
    "task_cases",
    "task_root",
]


@dataclass(frozen=True)
class DecathlonTask:
    """One task of MONAI's table: its name, tarball URL and ``md5:<hex>`` checksum."""

    name: str
    url: str
    checksum: str

    @property
    def filename(self) -> str:
        """The tarball's file name (the last part of the URL), e.g. ``Task02_Heart.tar``."""
        return self.url.rsplit("/", 1)[-1]


def decathlon_tasks() -> dict[str, DecathlonTask]:
    """Every task of the installed MONAI's ``DecathlonDataset`` resource table, by name."""
    from monai.apps import DecathlonDataset  # imports torch: only the fetch step gets here

    return {
        name: DecathlonTask(name, url, f"md5:{DecathlonDataset.md5[name]}")
        for name, url in sorted(DecathlonDataset.resource.items())
    }


def decathlon_task(name: str) -> DecathlonTask:
    """The task ``name`` (e.g. ``Task02_Heart``); an error lists the tasks MONAI knows."""
    tasks = decathlon_tasks()
    if name not in tasks:
        raise DataError(
            f"unknown Decathlon task {name!r}; MONAI's table has {', '.join(tasks)}. Fix `task` "
            f"in the dataset config (or give `url` and `checksum` for a task MONAI lacks)"
        )
    return tasks[name]


def find_task_dir(root: Path, task: str | None = None) -> Path | None:
    """The folder holding ``imagesTr/`` and ``labelsTr/``: ``root``, ``root/<task>`` or a child."""
    candidates = [root, *([root / task] if task else []), *sorted(root.glob("*"))]
    for c in candidates:
        if (c / "imagesTr").is_dir() and (c / "labelsTr").is_dir():
            return c
    return None


def task_cases(task_dir: Path) -> dict[str, RawCase]:
    """The labelled cases of a task folder: its ``dataset.json`` ``training`` list, else the
    NIfTI files of ``imagesTr`` with a same-named label (AppleDouble ``._*`` files skipped)."""
    meta = read_task_meta(task_dir)
    if meta is not None and "training" in meta:
        pairs = [(task_dir / t["image"], task_dir / t["label"]) for t in meta["training"]]
    else:
        pairs = [(p, task_dir / "labelsTr" / p.name) for p in sorted((task_dir / "imagesTr").glob("*"))
                 if p.name.endswith(NIBABEL_ENDINGS) and not p.name.startswith(".")]
    cases = {case_id(img): RawCase(case_id(img), (img,), lab) for img, lab in pairs}
    if len(cases) != len(pairs):
        raise DataError(f"{task_dir}: duplicate case ids in the training list of dataset.json")
    if not cases:
        raise DataError(f"{task_dir}: no labelled cases (dataset.json 'training' or imagesTr/*.nii.gz)")
    return cases


def read_task_meta(task_dir: Path) -> dict[str, Any] | None:
    """The task's ``dataset.json``, or ``None`` when it has none."""
    path = task_dir / "dataset.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("training", []), list):
            raise ValueError("expected an object with a 'training' list")
        for t in meta.get("training", []):
            if not {"image", "label"} <= set(t):
                raise ValueError(f"training entry {t} lacks 'image' or 'label'")
    except (json.JSONDecodeError, ValueError, TypeError) as e:
        raise DataError(f"invalid {path}: {e}; restore the task's original dataset.json") from e
    return meta


def fetch_task(name: str, entry: dict[str, Any], raw_dir: Path, task: str) -> None:
    """Fetch step of a Decathlon task: download MONAI's tarball (or ``url``), verified with
    MONAI's MD5 (or ``checksum``), or check and record a local task folder."""
    if is_local(entry):
        root = local_source_dir(name, entry, f"an extracted {task} (imagesTr/, labelsTr/, dataset.json)")
        if find_task_dir(root, task) is None:
            raise MissingDataError(
                f"dataset {name!r}: no {task} folder with imagesTr/ and labelsTr/ under {root}; "
                f"fix `path` (the extracted task folder or its parent)"
            )
        record_local_source(raw_dir, root, "msd")
        return
    if entry.get("url"):
        known = decathlon_tasks().get(task)
        checksum = entry.get("checksum") or (known.checksum if known else None)
        fetch_archive(entry["url"], raw_dir, filename=f"{task}.tar", checksum=checksum)
        return
    resource = decathlon_task(task)
    fetch_archive(resource.url, raw_dir, filename=resource.filename,
                  checksum=entry.get("checksum") or resource.checksum)


def task_root(name: str, entry: dict[str, Any], raw_dir: Path, task: str | None) -> Path:
    """The task folder the prepare step reads (under ``path`` or the fetched ``raw_dir``)."""
    if is_local(entry):
        root = local_source_dir(name, entry, "an extracted Decathlon task folder")
    else:
        root = Path(raw_dir)
        if not root.is_dir():
            raise MissingDataError(f"raw data directory not found: {root}. Run the fetch step first.")
    task_dir = find_task_dir(root, task)
    if task_dir is None:
        raise MissingDataError(
            f"dataset {name!r}: no {task or 'Decathlon task'} folder with imagesTr/ and labelsTr/ "
            f"under {root}; run the fetch step again or fix `path`"
        )
    return task_dir
