"""Synthetic brain-tumour MRI phantoms in the exact raw layout of MSD Task01_BrainTumour (BraTS).

The phantom stands in for BraTS in the default CPU experiment. Each case is a skull-stripped,
head-like ellipsoidal brain (background exactly 0, as in BraTS) with cortex/white-matter texture,
two ventricles (CSF) and one tumour made of nested irregular regions, labelled as in MSD
Task01: 1 edema, 2 non-enhancing tumour, 3 enhancing tumour, so that

* enhancing tumour (ET = 3) lies within the tumour core (TC = 2 + 3), which lies within the whole
  tumour (WT = 1 + 2 + 3);
* every region boundary is a lobulated surface (random low-frequency radial perturbation) and the
  whole anatomy is warped by a smooth random displacement field;
* the four co-registered channels (FLAIR, T1w, T1gd, T2w) have different tissue contrasts:
  edema bright in FLAIR and T2, enhancing rim bright in T1gd, necrosis dark in T1/T1gd, CSF
  bright in T2 and dark in FLAIR;
* a smooth multiplicative bias field per channel, partial-volume blur (image only) and Gaussian
  noise.

Images are NIfTI (X, Y, Z, 4) float32, labels (X, Y, Z) uint8, 1 mm isotropic. Everything is a
deterministic function of ``seed`` (case ``i`` depends only on ``(seed, i)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from morse.data.phantoms.decathlon_writer import write_msd_dataset

__all__ = ["BRATS_LABELS", "BRATS_MODALITIES", "generate_phantom3d", "phantom3d_case"]

BRATS_MODALITIES = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
BRATS_LABELS = {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}

# Tissue intensities per channel (FLAIR, T1w, T1gd, T2w), arbitrary MR units.
_TISSUES = {
    "white": (420.0, 620.0, 620.0, 380.0),
    "grey": (520.0, 480.0, 480.0, 520.0),
    "csf": (150.0, 180.0, 180.0, 1000.0),
    "edema": (880.0, 420.0, 430.0, 820.0),
    "necrosis": (600.0, 300.0, 280.0, 900.0),
    "enhancing": (720.0, 520.0, 1050.0, 650.0),
}


def _smooth_field(
    rng: np.random.Generator, grids: tuple[np.ndarray, ...], n_modes: int, max_freq: float
) -> np.ndarray:
    """Smooth random field in [-1, 1]: a sum of random low-frequency plane waves."""
    amps = rng.uniform(0.5, 1.0, n_modes).astype(np.float32)
    field = np.zeros(np.broadcast_shapes(*(g.shape for g in grids)), np.float32)
    for a in amps:
        freqs = rng.uniform(-max_freq, max_freq, len(grids)).astype(np.float32)
        phase = np.float32(rng.uniform(0, 2 * np.pi))
        arg = sum(f * g for f, g in zip(freqs, grids, strict=True))
        field += a * np.sin(np.float32(np.pi) * arg + phase)
    return field / amps.sum()


def _blob(
    rng: np.random.Generator,
    grids: tuple[np.ndarray, np.ndarray, np.ndarray],
    centre: np.ndarray,
    radii: np.ndarray,
    irregularity: float,
) -> np.ndarray:
    """Normalised radius of a lobulated ellipsoid (< 1 inside)."""
    d = [(g - np.float32(c)) / np.float32(r) for g, c, r in zip(grids, centre, radii, strict=True)]
    r = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
    wobble = _smooth_field(rng, tuple(d), n_modes=5, max_freq=0.9)
    return r / (1.0 + np.float32(irregularity) * wobble)


def phantom3d_case(
    rng: np.random.Generator,
    size: int,
    depth: int | None = None,
    *,
    noise: float = 60.0,
    blur: float = 1.0,
    bias: float = 0.15,
    deform: float = 0.06,
) -> tuple[np.ndarray, np.ndarray]:
    """One case: image float32 (4, Z, Y, X) (FLAIR, T1w, T1gd, T2w), label uint8 (Z, Y, X).

    ``size``: in-plane side (Y = X); ``depth``: Z (default ``size``). ``noise``: Gaussian SD in MR
    units; ``blur``: partial-volume SD in voxels; ``bias``: bias-field amplitude (fraction);
    ``deform``: amplitude of the smooth displacement (fraction of the half-width).
    """
    depth = size if depth is None else int(depth)
    if size < 16 or depth < 8:
        raise ValueError(f"need size >= 16 and depth >= 8, got size={size}, depth={depth}")
    f32 = np.float32

    def axis(n: int) -> np.ndarray:
        return ((np.arange(n) + 0.5) / n * 2.0 - 1.0).astype(f32)

    z0, y0, x0 = axis(depth)[:, None, None], axis(size)[None, :, None], axis(size)[None, None, :]
    shape = (depth, size, size)
    # Smooth random displacement: every structure is sampled at warped coordinates.
    warp = [deform * _smooth_field(rng, (z0, y0, x0), n_modes=4, max_freq=1.0) for _ in range(3)]
    z, y, x = (np.broadcast_to(g + w, shape).astype(f32) for g, w in zip((z0, y0, x0), warp, strict=True))
    grids = (z, y, x)

    brain_r = _blob(rng, grids, rng.normal(0, 0.02, 3), np.array([0.82, 0.88, 0.74]) * rng.uniform(0.92, 1.02, 3), 0.04)
    brain = brain_r < 1.0
    cortex = brain & (brain_r > 0.82 + 0.05 * _smooth_field(rng, grids, 6, 3.0))
    tissue = np.zeros(shape, np.uint8)  # 0 bg, 1 white, 2 grey, 3 csf, 4 edema, 5 necrosis, 6 enh
    tissue[brain] = 1
    tissue[cortex] = 2
    for side in (-1.0, 1.0):  # lateral ventricles
        vent = _blob(rng, grids, np.array([0.05, -0.05, 0.12 * side]), np.array([0.16, 0.32, 0.07]), 0.15)
        tissue[brain & (vent < 1.0)] = 3

    # Tumour in one hemisphere: WT (edema) > TC > ET rim around a necrotic centre.
    centre = np.array([rng.uniform(-0.25, 0.25), rng.uniform(-0.35, 0.35), rng.choice([-1, 1]) * rng.uniform(0.15, 0.3)])
    r_wt = rng.uniform(0.3, 0.4) * rng.uniform(0.85, 1.15, 3)
    wt_r = _blob(rng, grids, centre, r_wt, 0.25)
    wt = brain & (wt_r < 1.0)
    core_centre = centre + rng.normal(0, 0.03, 3)
    core_r = _blob(rng, grids, core_centre, r_wt * rng.uniform(0.5, 0.7), 0.2)
    tc = wt & (core_r < 1.0)
    necrotic = tc & (core_r < rng.uniform(0.6, 0.75))
    et = tc & ~necrotic & (_smooth_field(rng, grids, 4, 2.5) > -0.6)  # an incomplete enhancing rim
    label = np.zeros(shape, np.uint8)
    label[wt] = 1
    label[tc] = 2
    label[et] = 3
    tissue[wt] = 4
    tissue[tc] = 5
    tissue[et] = 6

    lut = np.zeros((7, 4), f32)
    for i, name in enumerate(("white", "grey", "csf", "edema", "necrosis", "enhancing"), start=1):
        lut[i] = _TISSUES[name]
    image = np.moveaxis(lut[tissue], -1, 0)  # (4, Z, Y, X)
    # Edema fades into the surrounding white matter towards the WT boundary (infiltration).
    fade = np.clip((1.0 - wt_r) / 0.4, 0.0, 1.0)[None] ** 0.7
    edema = tissue == 4
    image[:, edema] = (lut[1][:, None] + (lut[4] - lut[1])[:, None] * (0.25 + 0.75 * fade[:, edema]))
    texture = _smooth_field(rng, grids, 6, 4.0)
    image *= 1.0 + 0.06 * texture * brain
    for c in range(4):
        if blur > 0:
            image[c] = gaussian_filter(image[c], sigma=blur, mode="nearest")
        image[c] *= 1.0 + bias * _smooth_field(rng, (z0, y0, x0), 3, 0.6)
        image[c] += rng.normal(0.0, noise, shape).astype(f32)
    image = np.where(brain[None], np.maximum(image, 1.0), 0.0).astype(f32)  # skull-stripped
    return image, label


def generate_phantom3d(
    raw_dir: Path,
    n_cases: int,
    size: int,
    seed: int,
    depth: int | None = None,
    noise: float = 60.0,
    blur: float = 1.0,
    bias: float = 0.15,
    deform: float = 0.06,
    name: str = "BRATS",
) -> None:
    """Write a brain-tumour phantom in the raw layout of MSD ``Task01_BrainTumour``.

    ``raw_dir/dataset.json`` (MSD keys), ``raw_dir/imagesTr/BRATS_<nnn>.nii.gz`` (float32, NIfTI
    shape (X, Y, Z, 4)) and ``raw_dir/labelsTr/BRATS_<nnn>.nii.gz`` (uint8, (X, Y, Z)), 1 mm
    isotropic. The directory appears atomically, once complete. See :func:`phantom3d_case`.
    """
    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")
    def cases():
        for i in range(n_cases):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), i]))
            image, label = phantom3d_case(
                rng, size, depth, noise=noise, blur=blur, bias=bias, deform=deform
            )
            yield f"BRATS_{i + 1:03d}", image, label, (1.0, 1.0, 1.0)

    meta = {
        "name": name,
        "description": (
            f"Synthetic brain-tumour MRI phantom (seed {seed}, {n_cases} cases of "
            f"{depth or size}x{size}x{size}; noise {noise}, blur {blur} vx, bias {bias}, "
            f"deform {deform}), MSD Task01_BrainTumour layout"
        ),
        # the module's former path: kept, as it is written into every generated dataset.json
        "reference": "morse-bench phantom generator (morse/data/phantom3d.py)",
        "tensorImageSize": "4D",
        "modality": dict(BRATS_MODALITIES),
        "labels": dict(BRATS_LABELS),
    }
    write_msd_dataset(Path(raw_dir), cases(), meta)
