"""``msd``: any Medical Segmentation Decathlon task (``task: Task02_Heart``, ...), 3D or slice-wise.

Sources:
  * ``source: download`` - the task's tarball from the mirror of MONAI's ``DecathlonDataset``,
    verified with MONAI's MD5 (both read from the installed MONAI's resource table).
  * ``source: local`` + ``path`` - an extracted task folder (``imagesTr/``, ``labelsTr/``,
    ``dataset.json``) or its parent.

Prepare: modalities, label names and the training list from the task's ``dataset.json``; spacing
from the NIfTI headers; intensity per ``intensity`` (default: clip to the 0.5-99.5th percentiles,
then z-score); ``spatial_dims: 3`` (default) trains on patches, ``2`` slice-wise along
``slice_axis`` (default: the axis of lowest resolution); split 80 / 20 from ``seed`` 0 unless
``split`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from morse.data.errors import DataError
from morse.data.prepared.format import DatasetInfo
from morse.data.prepared.from_nifti import prepare_nifti_dataset
from morse.data.prepared.splits import entry_splits
from morse.data.readers.decathlon import task_cases, task_root
from morse.data.recipes.generic_settings import volume_options
from morse.data.recipes.registry import DatasetRecipe, register_recipe
from morse.data.sources.decathlon_tasks import fetch_task


def _task(name: str, entry: dict[str, Any]) -> str:
    task = entry.get("task")
    if not task:
        raise DataError(f"dataset {name!r}: kind msd needs `task`, e.g. task: Task02_Heart")
    return str(task)


def fetch(name: str, entry: dict[str, Any], raw_dir: Path) -> None:
    """Download and extract the task's tarball, or check and record a local task folder."""
    fetch_task(name, entry, raw_dir, _task(name, entry))


def prepare(name: str, entry: dict[str, Any], raw_dir: Path, out_dir: Path) -> DatasetInfo:
    """The task folder -> prepared format (labels and modalities from its dataset.json)."""
    task_dir = task_root(name, entry, raw_dir, _task(name, entry))
    splits = entry_splits(entry, sorted(task_cases(task_dir)), task_dir)
    return prepare_nifti_dataset(task_dir, out_dir, name=name, splits=splits,
                                 regions=entry.get("regions"), **volume_options(entry))


register_recipe(DatasetRecipe("msd", 3, fetch, prepare, (__doc__ or "").split("\n")[0], (2, 3)))
