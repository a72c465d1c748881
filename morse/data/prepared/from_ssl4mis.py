"""The ``prepare`` step for ACDC in SSL4MIS's layout (``kind: acdc``, ``format: ssl4mis``).

Training cases are stacked from their slice files (the prepared format stores volumes; the 2D
loader samples exactly those slices), validation and test cases come from their volume files,
as in the authors' code (:mod:`morse.data.readers.ssl4mis`). Every case is read and checked
while :func:`~morse.data.prepared.format.write_prepared_dataset` writes atomically, so a failed
check leaves nothing under the output folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from morse.data.errors import MissingDataError
from morse.data.prepared.format import SPLIT_NAMES, DatasetInfo, write_prepared_dataset
from morse.data.prepared.intensity import describe_intensity, normalize_intensity
from morse.data.prepared.splits import require_train_and_test
from morse.data.readers.h5 import require_h5py
from morse.data.readers.ssl4mis import LISTS, Listing, find_root, read_case, read_listing

__all__ = ["SPACING_NOTE", "prepare_ssl4mis", "ssl4mis_listing"]

log = logging.getLogger(__name__)

SPACING_NOTE = ("1 mm assumed: SSL4MIS's h5 files carry no voxel spacing, so hd95_mm is in "
                "voxels (the paper's unit)")


def ssl4mis_listing(path: Path) -> Listing:
    """The checked lists of the SSL4MIS folder at (or below) ``path``."""
    require_h5py("acdc `format: ssl4mis`")
    root = find_root(path)
    if root is None:
        raise MissingDataError(
            f"acdc: no {LISTS['train']} under {path}; `format: ssl4mis` reads SSL4MIS's ACDC "
            f"folder ({', '.join(LISTS.values())}, data/slices/*.h5, data/*.h5): fix `path`"
        )
    return read_listing(root)


def prepare_ssl4mis(
    name: str, entry: dict[str, Any], listing: Listing, out_dir: Path, *,
    splits: dict[str, list[str]], split_text: str, class_names: list[str],
) -> DatasetInfo:
    """The cases ``splits`` of the SSL4MIS folder ``listing`` -> the prepared format at
    ``out_dir`` (atomically); ``split_text`` says where the split came from."""
    require_train_and_test(splits, listing.root, len(listing.cases))
    log.info("acdc (ssl4mis): split from %s", split_text)
    # The files are min-max normalised per volume already, as the authors train on them.
    intensity = {"mode": "none", **entry.get("intensity", {})}
    info = DatasetInfo(
        name=name, spatial_dims=2, modalities=["cine-MRI"], class_names=list(class_names),
        splits=splits, spacing={}, regions=dict(entry.get("regions") or {}),
        preparation={
            "format": "ssl4mis", "intensity": intensity,
            "intensity_text": describe_intensity(intensity), "spacing": SPACING_NOTE,
            "slice_axis": "z", "split": split_text,
            "training_cases": "stacked from their slice files (train_slices.list)",
        },
    )
    info.validate()

    def convert() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for split in SPLIT_NAMES:
            for case in tqdm(info.splits[split], desc=f"prepare {name} ({split})", unit="case"):
                image, label = read_case(listing, case, split)
                info.spacing[case] = [1.0, 1.0, 1.0]
                yield case, normalize_intensity(image[None], intensity), label

    log.warning("acdc (ssl4mis): %s", SPACING_NOTE)
    write_prepared_dataset(out_dir, info, convert())
    return info
