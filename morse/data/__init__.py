"""Data layer: where raw data comes from, how it is read or generated, prepared and loaded.

Subpackages, by kind:

* :mod:`~morse.data.sources`: downloads (resume, checksums), safe archive extraction,
  ``source: local`` folders, MONAI's Decathlon table, folder fingerprints;
* :mod:`~morse.data.readers`: one reader per format users hold (NIfTI, Decathlon task folders,
  nnU-Net v2 raw datasets, 2D image folders);
* :mod:`~morse.data.phantoms`: the synthetic datasets (2D abdominal CT, 3D brain-tumour MRI)
  and the writer of their Decathlon-layout raw data;
* :mod:`~morse.data.prepared`: the one on-disk format every dataset is converted to
  (``DatasetInfo``, ``load_case``), the NIfTI -> prepared conversion, splits, intensity
  normalisation;
* :mod:`~morse.data.recipes`: one module per dataset ``kind`` (its fetch and prepare steps) and
  the registry the ``fetch`` / ``prepare`` commands dispatch through;
* :mod:`~morse.data.loading`: training datasets (2D slices, 3D patches) and endless loaders.

:mod:`~morse.data.errors` holds the errors they raise. The loading package (torch, MONAI) is
not imported here, so light consumers stay light.
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
