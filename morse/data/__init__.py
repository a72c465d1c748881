"""Data layer: phantom generation, the prepare step (one on-disk format), loading.

Submodules: :mod:`~morse.data.prepared` (format, ``DatasetInfo``),
:mod:`~morse.data.phantom`, :mod:`~morse.data.prepare` (NIfTI -> prepared, with
:mod:`~morse.data.nifti`, :mod:`~morse.data.splits`, :mod:`~morse.data.intensity`), the readers of
users' layouts (:mod:`~morse.data.decathlon`, :mod:`~morse.data.nnunet`,
:mod:`~morse.data.images2d`), :mod:`~morse.data.loading`. The loading
module (torch, MONAI) is not imported here, so light consumers stay light.
"""

from morse.common import atomic_path
from morse.data.errors import DataError, MissingDataError
from morse.data.phantoms.abdomen2d import PHANTOM_CLASSES, generate_phantom2d
from morse.data.prepared.format import (
    DatasetInfo,
    load_case,
    read_dataset_info,
    write_prepared_dataset,
)
from morse.data.prepared.from_nifti import prepare_nifti_dataset

__all__ = [
    "PHANTOM_CLASSES",
    "DataError",
    "DatasetInfo",
    "MissingDataError",
    "atomic_path",
    "generate_phantom2d",
    "load_case",
    "prepare_nifti_dataset",
    "read_dataset_info",
    "write_prepared_dataset",
]
