"""Errors as a function of distance to the true boundary: where a boundary-refining head
should help most (small distances) and matter least (deep inside structures)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def label_boundary(reference: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Voxels whose label differs from a face neighbour along any of ``axes`` (both sides)."""
    boundary = np.zeros(reference.shape, bool)
    for axis in axes:
        differs = np.diff(reference, axis=axis) != 0
        lower = [slice(None)] * reference.ndim
        upper = [slice(None)] * reference.ndim
        lower[axis], upper[axis] = slice(0, -1), slice(1, None)
        boundary[tuple(lower)] |= differs
        boundary[tuple(upper)] |= differs
    return boundary


def boundary_error_profile(
    prediction: np.ndarray,
    reference: np.ndarray,
    spacing: Sequence[float],
    in_plane: bool = False,
    bin_mm: float = 1.0,
    max_mm: float = 10.0,
) -> list[dict]:
    """Per distance bin: voxels and wrongly labelled voxels, all classes pooled.

    The distance of a voxel is the Euclidean distance in mm (``spacing`` per axis) to the nearest
    voxel of the reference's label boundary. ``in_plane`` (for slice-wise 2D models on (Z, Y, X)
    volumes) measures it within each axial slice. Voxels farther than ``max_mm`` are left out.
    Returns rows ``{"distance_mm": bin centre, "n_voxels": int, "n_errors": int}``.
    """
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} differ in shape")
    spacing = [float(s) for s in spacing]
    if in_plane:
        boundary = label_boundary(reference, axes=range(1, reference.ndim))
        distance = np.stack([
            ndimage.distance_transform_edt(~b, sampling=spacing[1:]) if b.any() else np.full(b.shape, np.inf)
            for b in boundary
        ])
    else:
        boundary = label_boundary(reference, axes=range(reference.ndim))
        if not boundary.any():
            return []
        distance = ndimage.distance_transform_edt(~boundary, sampling=spacing)
    errors = prediction != reference
    n_bins = int(np.ceil(max_mm / bin_mm))
    index = np.floor(distance / bin_mm)
    keep = index < n_bins
    bins = index[keep].astype(int)
    n_voxels = np.bincount(bins, minlength=n_bins)
    n_errors = np.bincount(bins, weights=errors[keep], minlength=n_bins).astype(int)
    return [
        {"distance_mm": (b + 0.5) * bin_mm, "n_voxels": int(n_voxels[b]), "n_errors": int(n_errors[b])}
        for b in range(n_bins)
        if n_voxels[b] > 0
    ]
