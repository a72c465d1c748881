"""Reading NIfTI (and other nibabel) volumes for the prepare step, with the checks of each case.

NIfTI arrays are indexed (X, Y, Z[, C]); prepared arrays are (C, Z, Y, X) / (Z, Y, X), i.e. a
transpose (no reorientation, no resampling: the voxel grid is kept and the spacing recorded).
For slice-wise training along another axis, :func:`axis_order` puts that axis first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from morse.data.errors import DataError

__all__ = [
    "AFFINE_TOLERANCE",
    "NIBABEL_ENDINGS",
    "AXIS_NAMES",
    "RawCase",
    "Volume",
    "axis_order",
    "case_id",
    "lowest_resolution_axis",
    "map_labels",
    "read_volume",
]

NIBABEL_ENDINGS = (".nii.gz", ".nii", ".mgz", ".mgh")  # what nibabel reads among common endings
AXIS_NAMES = ("x", "y", "z")  # the NIfTI voxel axes i, j, k
AFFINE_TOLERANCE = 1e-3  # mm (translations) / unitless (rotation-scaling), absolute


def case_id(path: str | Path) -> str:
    """The file name without its (NIfTI or other) ending."""
    name = Path(path).name
    for suffix in NIBABEL_ENDINGS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


@dataclass(frozen=True)
class RawCase:
    """One raw case given explicitly (for layouts other than MSD).

    ``images``: one NIfTI file (3-D, or 4-D with channels last), or one 3-D file per channel
    (stacked in the given order). ``label``: a 3-D NIfTI label map.
    """

    case: str
    images: tuple[Path, ...]
    label: Path


@dataclass
class Volume:
    """A volume as read: array in NIfTI order, voxel sizes, affine and the file it came from."""

    data: np.ndarray
    zooms: tuple[float, ...]
    affine: np.ndarray
    path: Path


def _load(path: Path) -> Volume:
    if not path.is_file():
        raise DataError(f"missing image file {path}; restore it or remove the case from the split")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception as e:  # nibabel raises many types for corrupt / truncated files
        raise DataError(
            f"cannot read NIfTI file {path} (corrupt or truncated?): {type(e).__name__}: {e}"
        ) from e
    return Volume(data, zooms, np.asarray(img.affine, dtype=np.float64), path)


def read_volume(paths: Sequence[Path]) -> Volume:
    """Read one file, or stack one 3-D file per channel along a last axis (all on one grid)."""
    first = _load(Path(paths[0]))
    if len(paths) == 1:
        return first
    channels = [first.data]
    for path in paths[1:]:
        vol = _load(Path(path))
        if vol.data.shape != first.data.shape or vol.data.ndim != 3:
            raise DataError(
                f"channel file {path} has shape {vol.data.shape}; expected a 3-D volume of shape "
                f"{first.data.shape} like {Path(paths[0]).name}"
            )
        check_same_grid(first, vol)
        channels.append(vol.data)
    return Volume(np.stack(channels, axis=-1), first.zooms, first.affine, first.path)


def check_same_grid(image: Volume, other: Volume) -> None:
    """Raise naming both files if their affines differ by more than :data:`AFFINE_TOLERANCE`."""
    if not np.allclose(image.affine, other.affine, rtol=0.0, atol=AFFINE_TOLERANCE):
        raise DataError(
            f"{other.path} is not on the voxel grid of {image.path}: affines differ by up to "
            f"{np.abs(image.affine - other.affine).max():.4g} (tolerance {AFFINE_TOLERANCE}); "
            f"resample the label onto the image (or fix its header) before preparing"
        )


def map_labels(lab: np.ndarray, label_map: Mapping[int, int], path: Path) -> np.ndarray:
    """Map raw label values to class indices; values not in ``label_map`` are an error."""
    values, inverse = np.unique(lab, return_inverse=True)
    bad = [v for v in values.tolist() if not np.isfinite(v) or v != round(v) or int(v) not in label_map]
    if bad:
        raise DataError(
            f"label file {path} has values {bad} that are not valid raw labels of this dataset "
            f"(expected a subset of {sorted(label_map)}); the file is corrupt or from another "
            f"release: replace it, or remove the case from the split"
        )
    lut = np.array([label_map[int(v)] for v in values.tolist()], dtype=np.uint8)
    return lut[inverse].reshape(lab.shape)


def slice_axis_index(axis: int | str) -> int:
    """``"x" | "y" | "z"`` or 0 / 1 / 2 -> the NIfTI voxel axis index."""
    if isinstance(axis, str) and axis.lower() in AXIS_NAMES:
        return AXIS_NAMES.index(axis.lower())
    if isinstance(axis, int) and not isinstance(axis, bool) and axis in (0, 1, 2):
        return axis
    raise DataError(f"slice_axis must be one of {list(AXIS_NAMES)} (or 'auto'), got {axis!r}")


def lowest_resolution_axis(paths: Sequence[Path]) -> int:
    """The NIfTI axis with the largest median voxel size over ``paths`` (headers only); ties
    go to the last axis (z)."""
    zooms = []
    for path in paths:
        try:
            zooms.append(nib.load(str(path)).header.get_zooms()[:3])
        except Exception as e:
            raise DataError(f"cannot read the header of {path}: {type(e).__name__}: {e}") from e
    median = np.median(np.asarray(zooms, dtype=np.float64), axis=0)
    return int(2 - np.argmax(median[::-1]))


def axis_order(slice_axis: int) -> tuple[int, int, int]:
    """NIfTI axes in prepared (Z, Y, X) order: ``slice_axis`` first, the others reversed, so
    ``slice_axis = 2`` is the plain transpose (z, y, x)."""
    return (slice_axis, *[a for a in (2, 1, 0) if a != slice_axis])
