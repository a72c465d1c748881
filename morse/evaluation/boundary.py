"""Boundary-focused measures: Boundary IoU (Cheng et al., CVPR 2021) and the errors as a function
of distance to the true boundary, where a boundary-refining head should help most (small
distances) and matter least (deep inside structures)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def inner_band(mask: np.ndarray, width: int, in_plane: bool = False) -> np.ndarray:
    """Voxels of ``mask`` within ``width`` voxels of its contour, on the inside.

    As the reference implementation of Boundary IoU (``mask_to_boundary``: ``width`` erosions
    with a 3x3 square after zero padding): the mask minus its erosion by a full 3^n cube
    ``width`` times, i.e. the voxels whose chessboard distance to the background (or the image
    border) is at most ``width``. ``in_plane`` erodes within each slice of axis 0 only.
    """
    mask = np.asarray(mask, dtype=bool)
    if width < 1:
        raise ValueError(f"band width must be >= 1 voxel, got {width}")
    structure = np.ones((3,) * mask.ndim, dtype=bool)
    if in_plane:
        structure[0] = structure[2] = False
    eroded = ndimage.binary_erosion(mask, structure=structure, iterations=int(width), border_value=0)
    return mask & ~eroded


def boundary_iou(pred: np.ndarray, ref: np.ndarray, width: int, in_plane: bool = False) -> float:
    """Boundary IoU of two boolean masks: ``|P_d & G_d| / |P_d | G_d|`` with ``X_d`` the inner
    band of width ``width`` voxels of each mask (:func:`inner_band`); bands of all slices are
    pooled when ``in_plane``. Both masks empty: 1.0; exactly one empty: 0.0."""
    p = inner_band(pred, width, in_plane)
    g = inner_band(ref, width, in_plane)
    union = int(np.count_nonzero(p | g))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & g) / union)


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
