"""nnU-Net v2 raw datasets: ``dataset.json`` (``channel_names``, ``labels``, ``numTraining``,
``file_ending``), ``imagesTr/<case>_<XXXX><ending>`` (one file per channel) and
``labelsTr/<case><ending>``; ``imagesTs/`` (unlabelled) is not used.

Region-based ``labels`` (nnU-Net's lists, e.g. ``"whole tumor": [1, 2, 3]``) become evaluation
regions; the label files then hold the base labels 0..N-1 that the regions combine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from morse.data.errors import DataError, MissingDataError
from morse.data.readers.nifti import NIBABEL_ENDINGS, RawCase

__all__ = ["NnunetDataset", "read_nnunet_dataset"]

_REQUIRED = ("channel_names", "labels", "numTraining", "file_ending")


@dataclass(frozen=True)
class NnunetDataset:
    """What the prepare step needs from an nnU-Net raw dataset folder."""

    root: Path
    cases: dict[str, RawCase]
    modalities: list[str]
    class_names: list[str]
    regions: dict[str, list[int]]


def read_nnunet_dataset(root: Path) -> NnunetDataset:
    """Read and check ``root/dataset.json`` and list the labelled cases."""
    meta = _read_meta(root)
    ending = str(meta["file_ending"])
    if ending not in NIBABEL_ENDINGS:
        raise DataError(
            f"{root / 'dataset.json'}: file_ending {ending!r} is not supported; kind nnunet reads "
            f"{', '.join(NIBABEL_ENDINGS)} (nibabel). Convert the files to .nii.gz, or use kind "
            f"images2d for 2D PNG/TIFF images"
        )
    channels = meta["channel_names"]
    order = sorted(channels, key=int)
    class_names, regions = parse_labels(meta["labels"], root / "dataset.json")
    cases = _cases(root, ending, len(order))
    if int(meta["numTraining"]) != len(cases):
        raise DataError(
            f"{root / 'dataset.json'} says numTraining {meta['numTraining']} but labelsTr holds "
            f"{len(cases)} label files; restore the missing cases or correct numTraining"
        )
    return NnunetDataset(root, cases, [str(channels[k]) for k in order], class_names, regions)


def _read_meta(root: Path) -> dict[str, Any]:
    path = root / "dataset.json"
    if not path.is_file():
        raise MissingDataError(f"no dataset.json in {root}: not an nnU-Net v2 raw dataset folder; fix `path`")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"invalid {path}: {e}") from e
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise DataError(f"{path} lacks {missing}; nnU-Net v2 needs {list(_REQUIRED)}")
    keys = sorted(int(k) for k in meta["channel_names"])
    if not keys or keys != list(range(len(keys))):
        raise DataError(f"{path}: channel_names must be numbered 0..C-1, got {list(meta['channel_names'])}")
    return meta


def parse_labels(labels: dict[str, Any], path: Path) -> tuple[list[str], dict[str, list[int]]]:
    """nnU-Net ``labels`` -> (class names by label value, evaluation regions).

    Plain labels (name -> int) must be 0..N-1 with ``background`` 0. When any value is a list,
    every non-background entry is a region (ints are one-label regions) and the classes are the
    base labels the regions use; a base label gets the name of an entry equal to it, else
    ``label_<k>``."""
    if labels.get("background") != 0:
        raise DataError(f"{path}: labels must map 'background' to 0, got {labels.get('background')!r}")
    values = {str(n): (sorted(int(x) for x in v) if isinstance(v, list) else [int(v)])
              for n, v in labels.items()}
    base = sorted({x for v in values.values() for x in v})
    if base != list(range(len(base))):
        raise DataError(f"{path}: label values must be 0..N-1 without gaps, got {base}")
    names = [f"label_{k}" for k in base]
    for name, v in values.items():
        if len(v) == 1:
            names[v[0]] = name
    names[0] = "background"
    if not any(isinstance(v, list) for v in labels.values()):
        if len(values) != len(base):
            raise DataError(f"{path}: two labels share a value: {labels}")
        return names, {}
    return names, {n: v for n, v in values.items() if n != "background"}


def _cases(root: Path, ending: str, n_channels: int) -> dict[str, RawCase]:
    images, labels = root / "imagesTr", root / "labelsTr"
    for folder in (images, labels):
        if not folder.is_dir():
            raise MissingDataError(f"nnU-Net dataset {root} has no {folder.name}/; fix `path`")
    cases = {}
    for lab in sorted(labels.glob(f"*{ending}")):
        if lab.name.startswith("."):
            continue
        case = lab.name[: -len(ending)]
        files = tuple(images / f"{case}_{c:04d}{ending}" for c in range(n_channels))
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise MissingDataError(
                f"case {case!r}: label {lab} has no image file(s) {missing} in {images} "
                f"({n_channels} channel(s) in channel_names); restore them or remove the label"
            )
        cases[case] = RawCase(case, files, lab)
    pattern = re.compile(rf"^(.+)_(\d{{4}}){re.escape(ending)}$")
    orphans = sorted({m.group(1) for p in images.glob(f"*{ending}")
                      if (m := pattern.match(p.name)) and m.group(1) not in cases
                      and not p.name.startswith(".")})
    if orphans:
        raise MissingDataError(
            f"images in {images} without a label in {labels}: cases {orphans}; add their labels "
            f"or move the images to imagesTs/"
        )
    if not cases:
        raise DataError(f"no label files *{ending} in {labels}")
    return cases
