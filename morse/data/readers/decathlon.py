"""Medical Segmentation Decathlon task folders: ``imagesTr/``, ``labelsTr/``, ``dataset.json``.

Downloading a task is :mod:`morse.data.sources.decathlon_tasks`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from morse.data.errors import DataError, MissingDataError
from morse.data.readers.nifti import NIBABEL_ENDINGS, RawCase, case_id
from morse.data.sources.local import is_local, local_source_dir

__all__ = ["find_task_dir", "read_task_meta", "task_cases", "task_root"]


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
