"""Intensity normalisation of prepared images: CT window, z-score, optional percentile clipping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["INTENSITY_MODES", "clip_percentiles", "describe_intensity", "normalize_intensity"]

INTENSITY_MODES = ("window", "zscore", "none")


def clip_percentiles(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per channel, clip the nonzero voxels to their ``low`` / ``high`` percentiles (nnU-Net's
    0.5 / 99.5 against outliers); zero voxels (the background of skull-stripped MR or of a
    fundus photograph) stay zero. ``image`` is (C, ...) float32, changed in place and returned."""
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"clip_percentiles must satisfy 0 <= low < high <= 100, got {[low, high]}")
    for c in range(image.shape[0]):
        ch = image[c]
        mask = ch != 0
        if mask.any():
            lo, hi = np.percentile(ch[mask].astype(np.float64), [low, high])
            ch[mask] = np.clip(ch[mask], lo, hi)
    return image


def normalize_intensity(image: np.ndarray, intensity: Mapping[str, Any]) -> np.ndarray:
    """Normalise a (C, ...) image, per case.

    ``clip_percentiles: [lo, hi]`` (optional, applied first): see :func:`clip_percentiles`.
    ``{"mode": "window", "window": [lo, hi]}``: clip to [lo, hi], scale to [0, 1] (Synapse CT).
    ``{"mode": "zscore"}``: per channel, mean/std over the channel's nonzero voxels; zero voxels
    stay zero (MONAI ``NormalizeIntensity(nonzero=True, channel_wise=True)``; BraTS MRI).
    ``{"mode": "none"}``: unchanged.
    """
    mode = intensity.get("mode", "window")
    image = image.astype(np.float32, copy=True)
    if intensity.get("clip_percentiles") is not None:
        low, high = (float(p) for p in intensity["clip_percentiles"])
        clip_percentiles(image, low, high)
    if mode == "window":
        lo, hi = (float(x) for x in intensity.get("window", (-125.0, 275.0)))
        if not hi > lo:
            raise ValueError(f"intensity window must have hi > lo, got {[lo, hi]}")
        return (np.clip(image, lo, hi) - lo) / (hi - lo)
    if mode == "zscore":
        for c in range(image.shape[0]):
            ch = image[c]
            mask = ch != 0
            if mask.any():
                vals = ch[mask].astype(np.float64)
                ch[mask] = ((vals - vals.mean()) / max(vals.std(), 1e-8)).astype(np.float32)
        return image
    if mode == "none":
        return image
    raise ValueError(f"unknown intensity mode {mode!r}; use one of {list(INTENSITY_MODES)}")


def describe_intensity(intensity: Mapping[str, Any]) -> str:
    """One phrase for the report, e.g. ``"clip to the 0.5-99.5th percentiles, then z-score"``."""
    mode = intensity.get("mode", "window")
    text = {
        "window": "window [{}, {}] -> [0, 1]".format(*intensity.get("window", (-125, 275))),
        "zscore": "z-score per channel over nonzero voxels",
        "none": "no normalisation",
    }.get(mode, mode)
    if intensity.get("clip_percentiles") is not None:
        low, high = intensity["clip_percentiles"]
        text = f"clip to the {low:g}-{high:g}th percentiles (per case and channel), then {text}"
    return text
