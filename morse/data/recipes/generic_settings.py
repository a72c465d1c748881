"""Settings shared by the generic dataset kinds (``msd``, ``nnunet``, ``images2d``)."""

from __future__ import annotations

from typing import Any

from morse.data.recipes.registry import dataset_dims

__all__ = ["GENERIC_INTENSITY", "generic_intensity", "volume_options"]

# nnU-Net's robust normalisation for MR-like data: clip each case and channel to the 0.5 and
# 99.5th percentiles of its nonzero voxels, then z-score over them.
GENERIC_INTENSITY: dict[str, Any] = {"mode": "zscore", "clip_percentiles": [0.5, 99.5]}


def generic_intensity(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry's ``intensity`` (replacing the default as a whole), else :data:`GENERIC_INTENSITY`."""
    return dict(entry.get("intensity") or GENERIC_INTENSITY)


def volume_options(entry: dict[str, Any]) -> dict[str, Any]:
    """``prepare_nifti_dataset`` keywords of a volumetric entry: dims, slice axis, intensity.

    ``spatial_dims: 2`` trains slice-wise along ``slice_axis`` (``x`` / ``y`` / ``z``; default
    ``auto``, the axis of lowest resolution, i.e. the largest median voxel size)."""
    return {
        "spatial_dims": dataset_dims(entry),
        "slice_axis": entry.get("slice_axis", "auto"),
        "intensity": generic_intensity(entry),
    }
