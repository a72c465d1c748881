"""Downloading Medical Segmentation Decathlon tasks: MONAI's table of tarballs, the fetch step.

URLs and MD5s are read from the installed MONAI (``monai.apps.DecathlonDataset.resource`` and
``.md5``), never copied here, so a MONAI release that moves the mirror moves it for us too.
Reading a task folder is :mod:`morse.data.readers.decathlon`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from morse.data.errors import DataError, MissingDataError
from morse.data.readers.decathlon import find_task_dir
from morse.data.sources.archives import fetch_archive
from morse.data.sources.local import is_local, local_source_dir, record_local_source

__all__ = ["DecathlonTask", "decathlon_task", "decathlon_tasks", "fetch_task"]


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
