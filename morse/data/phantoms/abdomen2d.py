"""Synthetic abdominal CT phantoms, written as raw data in the Medical Segmentation Decathlon layout.

The phantom stands in for Synapse (BTCV) in the default CPU experiment. Each case is a stack of
axial slices showing a body-like ellipse with eight organ-like classes named and numbered as in
the TransUNet Synapse protocol (1 aorta, 2 gallbladder, 3 left kidney, 4 right kidney, 5 liver,
6 pancreas, 7 spleen, 8 stomach) plus unlabelled distractors (spine, vena cava, bowel loops,
muscle, fat). Difficulty comes from what makes the real task hard at organ boundaries:

* curved, lobulated outlines (angular harmonics) and a per-case smooth random displacement field;
* thin structures (a curved, tapering pancreas band; a small round aorta; a small gallbladder);
* organs that touch (gallbladder on the liver, kidneys against liver/spleen, pancreas tail at the
  spleen) and overlapping intensity distributions between neighbours (liver ~ spleen, pancreas ~
  stomach wall ~ bowel);
* partial-volume blur (image only; labels stay crisp), a smooth multiplicative bias field,
  tissue texture and Gaussian noise;
* shapes, positions and sizes that vary smoothly from slice to slice within a case.

Intensities are Hounsfield-like (air -1000, fat ~ -100, soft tissue 0..200, bone > 275), so the
Synapse window [-125, 275] of the prepare step applies. Everything is a deterministic function
of ``seed`` (case ``i`` depends only on ``(seed, i)``, not on ``n_cases``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from morse.data.phantoms.decathlon_writer import write_msd_dataset

__all__ = ["PHANTOM_CLASSES", "generate_phantom2d", "phantom_case"]

# Each case's voxel size is drawn from these ranges (mm): slices apart, and in-plane pixels.
SLICE_SPACING_MM = (2.5, 5.0)
IN_PLANE_SPACING_MM = (0.6, 1.0)

PHANTOM_CLASSES = [
    "background",
    "aorta",
    "gallbladder",
    "left_kidney",
    "right_kidney",
    "liver",
    "pancreas",
    "spleen",
    "stomach",
]
_L = {name: i for i, name in enumerate(PHANTOM_CLASSES)}


@dataclass(frozen=True)
class _Organ:
    """Base geometry in normalised image coordinates: u = column (patient left is +u, image
    right), v = row (anterior is -v, image top); axes are half-lengths before rotation."""

    center: tuple[float, float]
    axes: tuple[float, float]
    angle_deg: float
    lobulation: float  # amplitude of the angular harmonics
    hu: float  # mean intensity


# Radiological display: patient's right (liver) on the image left.
_ORGANS: dict[str, _Organ] = {
    "liver": _Organ((-0.42, -0.10), (0.34, 0.38), 15.0, 0.10, 105.0),
    "right_kidney": _Organ((-0.31, 0.27), (0.105, 0.15), -25.0, 0.06, 155.0),
    "left_kidney": _Organ((0.33, 0.27), (0.10, 0.15), 25.0, 0.06, 155.0),
    "spleen": _Organ((0.57, 0.12), (0.14, 0.26), -30.0, 0.12, 112.0),
    "stomach": _Organ((0.26, -0.21), (0.27, 0.18), 25.0, 0.12, 80.0),
    "gallbladder": _Organ((-0.13, -0.06), (0.065, 0.10), -20.0, 0.05, 15.0),
    "aorta": _Organ((0.06, 0.27), (0.062, 0.062), 0.0, 0.02, 185.0),
}
_PANCREAS_HU = 88.0


def _sinusoid_field(
    rng: np.random.Generator,
    u: np.ndarray,
    v: np.ndarray,
    t: np.ndarray,
    n_modes: int = 4,
    max_freq: float = 1.2,
    t_freq: float = 0.5,
) -> np.ndarray:
    """A smooth random field in [-1, 1] (sum of random low-frequency plane waves)."""
    amps = rng.uniform(0.5, 1.0, n_modes)
    field = np.zeros(np.broadcast_shapes(u.shape, v.shape, t.shape), dtype=np.float32)
    for a in amps:
        fu, fv = rng.uniform(-max_freq, max_freq, 2)
        ft = rng.uniform(-t_freq, t_freq)
        phase = rng.uniform(0, 2 * np.pi)
        field += np.float32(a) * np.sin(
            np.float32(np.pi) * (np.float32(fu) * u + np.float32(fv) * v + np.float32(ft) * t)
            + np.float32(phase)
        )
    return field / np.float32(amps.sum())


def _blob_radius(
    u: np.ndarray,
    v: np.ndarray,
    center: tuple[np.ndarray, np.ndarray],
    axes: tuple[np.ndarray, np.ndarray],
    angle: float,
    harmonics: list[tuple[np.ndarray, float]],
) -> np.ndarray:
    """Normalised radius of a lobulated rotated ellipse: < 1 inside, 1 on the outline."""
    f32 = np.float32
    ca, sa = f32(np.cos(angle)), f32(np.sin(angle))
    du = u - np.asarray(center[0], f32)
    dv = v - np.asarray(center[1], f32)
    p = (ca * du + sa * dv) / np.maximum(np.asarray(axes[0], f32), f32(1e-6))
    q = (-sa * du + ca * dv) / np.maximum(np.asarray(axes[1], f32), f32(1e-6))
    r = np.sqrt(p * p + q * q)
    bound = np.ones_like(r)
    if harmonics:
        # cos(k theta + phase) by the angle-addition recurrence (no arctan2 / trig per voxel)
        safe = np.maximum(r, 1e-12)
        c1, s1 = p / safe, q / safe
        ck, sk = c1, s1
        for amp, phase in harmonics:
            ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1  # k = 2, 3, ...
            amp = np.asarray(amp, f32)
            bound = bound + amp * (ck * f32(np.cos(phase)) - sk * f32(np.sin(phase)))
    return r / np.maximum(bound, f32(0.3))


def _organ_radius(
    rng: np.random.Generator,
    organ: _Organ,
    u: np.ndarray,
    v: np.ndarray,
    t: np.ndarray,
    profile: np.ndarray,
) -> np.ndarray:
    """Per-case jittered organ whose centre, size and outline drift smoothly with slice t."""
    cu = organ.center[0] + rng.normal(0, 0.025) + rng.normal(0, 0.04) * t
    cv = organ.center[1] + rng.normal(0, 0.025) + rng.normal(0, 0.04) * t
    scale = rng.uniform(0.85, 1.15, 2)
    au = organ.axes[0] * scale[0] * profile
    av = organ.axes[1] * scale[1] * profile
    angle = np.deg2rad(organ.angle_deg + rng.normal(0, 8.0))
    harmonics = []
    for k in (2, 3, 4):
        amp0 = rng.uniform(0.3, 1.0) * organ.lobulation * 2.0 / k
        harmonics.append((amp0 * (1.0 + rng.normal(0, 0.3) * t), rng.uniform(0, 2 * np.pi)))
    return _blob_radius(u, v, (cu, cv), (au, av), angle, harmonics)


def _pancreas_mask(
    rng: np.random.Generator, u: np.ndarray, v: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """A curved band, thick at the head (image left of the midline), tapering to the tail."""
    u0 = -0.14 + rng.normal(0, 0.02)  # head end
    u1 = 0.52 + rng.normal(0, 0.02) - 0.06 * t**2  # tail end (at the spleen)
    vm = 0.02 + rng.normal(0, 0.02) + 0.04 * t
    um = 0.12 + rng.normal(0, 0.03)
    curv = -0.55 + rng.normal(0, 0.15)  # tail curves posteriorly (+v) on both sides of um
    tilt = 0.12 + rng.normal(0, 0.04)
    centre = vm - curv * (u - um) ** 2 + tilt * (u - um)
    centre = centre + 0.015 * np.sin(np.pi * (3.0 * u + rng.uniform(0, 2)))  # lobulation
    s = np.clip((u - u0) / np.maximum(u1 - u0, 1e-3), 0.0, 1.0)
    head_w = rng.uniform(0.065, 0.085) * np.clip(1.0 - 0.5 * t**2, 0.4, 1.0)
    width = head_w * (1.0 - 0.55 * s) * np.sqrt(np.clip(1.0 - (2 * s - 1) ** 8, 0.0, 1.0))
    return (np.abs(v - centre) < width) & (u > u0) & (u < u1)


def phantom_case(
    rng: np.random.Generator,
    n_slices: int,
    size: int,
    *,
    noise: float = 20.0,
    blur: float = 0.8,
    bias: float = 0.04,
    deform: float = 0.05,
    texture: float = 12.0,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """One phantom case: image float32 HU (Z, Y, X), label uint8 (Z, Y, X), spacing (z, y, x) mm.

    ``noise``: Gaussian noise SD in HU; ``blur``: partial-volume Gaussian SD in pixels (image
    only); ``bias``: amplitude of the multiplicative bias field (fraction of attenuation);
    ``deform``: amplitude of the smooth random displacement (fraction of the half-width);
    ``texture``: amplitude in HU of smooth within-tissue heterogeneity.
    """
    if n_slices < 1 or size < 16:
        raise ValueError(f"need n_slices >= 1 and size >= 16, got {n_slices}, {size}")
    in_plane = float(rng.uniform(*IN_PLANE_SPACING_MM))
    spacing = (float(rng.uniform(*SLICE_SPACING_MM)), in_plane, in_plane)

    # Slice position t in [-1, 1] (cranial -> caudal); each case covers a random sub-range.
    t_centre, t_half = rng.uniform(-0.15, 0.15), rng.uniform(0.6, 0.85)
    t1 = np.linspace(-1.0, 1.0, n_slices) if n_slices > 1 else np.zeros(1)
    t = (t_centre + t_half * t1)[:, None, None].astype(np.float32)
    coords = ((np.arange(size) + 0.5) / size * 2.0 - 1.0).astype(np.float32)
    v0 = coords[None, :, None]
    u0 = coords[None, None, :]

    # Global pose and smooth random displacement (evaluated at the sampling points).
    rot = np.deg2rad(rng.normal(0, 5.0))
    scale = rng.uniform(0.92, 1.05)
    shift = rng.normal(0, 0.03, 2)
    u = (np.cos(rot) * u0 - np.sin(rot) * v0) / scale + shift[0]
    v = (np.sin(rot) * u0 + np.cos(rot) * v0) / scale + shift[1]
    du = deform * _sinusoid_field(rng, u, v, t)
    dv = deform * _sinusoid_field(rng, u, v, t)
    u, v = (u + du).astype(np.float32), (v + dv).astype(np.float32)
    shape = (n_slices, size, size)
    u, v = np.broadcast_to(u, shape), np.broadcast_to(v, shape)

    label = np.zeros(shape, dtype=np.uint8)
    hu = np.full(shape, -1000.0)

    # Body: skin/subcutaneous fat ring, visceral fat/soft-tissue mixture, muscles, spine.
    body_r = _blob_radius(
        u,
        v,
        (0.0, 0.03),
        (0.9 * (1 - 0.05 * t), 0.68 * (1 - 0.05 * t)),
        0.0,
        [(rng.uniform(0.0, 0.03), rng.uniform(0, 2 * np.pi)), (0.02, rng.uniform(0, 2 * np.pi))],
    )
    body = body_r < 1.0
    inner = body_r < rng.uniform(0.86, 0.92)
    hu[body] = -100.0
    hu[body & ~inner & (body_r > 0.97)] = 40.0  # skin
    visceral = -45.0 + 45.0 * _sinusoid_field(rng, u, v, t, n_modes=5, max_freq=3.0)
    hu[inner] = visceral[inner]
    for side in (-1.0, 1.0):
        muscle = _blob_radius(u, v, (0.2 * side, 0.5), (0.15, 0.1), side * 0.3, [(0.05, 0.0)])
        hu[inner & (muscle < 1.0)] = 50.0
    spine = _blob_radius(u, v, (0.0, 0.47), (0.1, 0.095), 0.0, [])
    hu[spine < 1.0] = 450.0
    hu[spine < 0.75] = 220.0
    ivc = _blob_radius(u, v, (-0.12 + rng.normal(0, 0.015), 0.24), (0.07, 0.055), 0.3, [])
    hu[ivc < 1.0] = 135.0
    for _ in range(int(rng.integers(6, 11))):  # unlabelled bowel loops, organ-like intensities
        c = (rng.uniform(-0.35, 0.45), rng.uniform(-0.5, 0.15))
        loop = _blob_radius(
            u,
            v,
            (c[0] + 0.05 * t, c[1]),
            tuple(rng.uniform(0.06, 0.12, 2)),
            rng.uniform(0, np.pi),
            [(0.1, rng.uniform(0, 6.3))],
        )
        hu[inner & (loop < 1.0)] = rng.uniform(20.0, 100.0)

    # Organs, painted in order: later ones overwrite earlier ones, so they touch.
    def paint(name: str, profile: np.ndarray) -> np.ndarray:
        organ = _ORGANS[name]
        r = _organ_radius(rng, organ, u, v, t, profile)
        mask = inner & (r < 1.0)
        label[mask] = _L[name]
        hu[mask] = organ.hu + rng.normal(0, 6.0)
        return r

    paint("liver", np.clip(1.0 - 0.25 * t, 0.5, 1.3))
    for side in ("right_kidney", "left_kidney"):
        r = paint(side, np.sqrt(np.clip(1.0 - (t / 1.35) ** 2, 0.2, 1.0)))
        hu[(label == _L[side]) & (r < 0.5)] = 40.0  # renal sinus / medulla
    paint("spleen", np.sqrt(np.clip(1.0 - ((t + 0.2) / 1.4) ** 2, 0.25, 1.0)))
    r = paint("stomach", np.clip(1.0 - 0.15 * t, 0.6, 1.2))
    hu[(label == _L["stomach"]) & (r < 0.7)] = 25.0 + rng.normal(0, 8.0)  # lumen content
    pancreas = inner & _pancreas_mask(rng, u, v, t)
    label[pancreas] = _L["pancreas"]
    hu[pancreas] = _PANCREAS_HU + rng.normal(0, 6.0)
    paint("gallbladder", np.sqrt(np.clip(1.0 - (t / 0.8) ** 2, 0.0, 1.0)))
    paint("aorta", np.ones_like(t))

    # Tissue texture, partial-volume blur (in-plane, image only), bias field, noise.
    tissue = body & (hu > -200) & (hu < 300)
    hu = hu + texture * _sinusoid_field(rng, u, v, t, n_modes=6, max_freq=6.0, t_freq=1.0) * tissue
    if blur > 0:
        hu = gaussian_filter(hu, sigma=(0.0, blur, blur), mode="nearest")
    field = _sinusoid_field(rng, u0, v0, t, n_modes=3, max_freq=0.7, t_freq=0.3)
    hu = (hu + 1000.0) * (1.0 + bias * field) - 1000.0
    hu = hu + rng.normal(0.0, noise, shape)
    return hu.astype(np.float32), label, spacing


def generate_phantom2d(
    raw_dir: Path,
    n_cases: int,
    n_slices: int,
    size: int,
    seed: int,
    noise: float = 20.0,
    blur: float = 0.8,
    bias: float = 0.04,
    deform: float = 0.05,
    texture: float = 12.0,
    name: str = "Phantom2D",
) -> None:
    """Write a phantom abdominal-CT dataset in the Medical Segmentation Decathlon raw layout.

    ``raw_dir/dataset.json`` (MSD style), ``raw_dir/imagesTr/<case>.nii.gz`` (float32 HU, NIfTI
    shape (X, Y, Z), affine carrying the case's spacing) and ``raw_dir/labelsTr/<case>.nii.gz``
    (uint8). The directory appears atomically, once complete. Cases are named
    ``phantom_000, phantom_001, ...``; see :func:`phantom_case` for the image parameters.
    """
    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")

    def cases():
        for i in range(n_cases):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), i]))
            image, label, spacing = phantom_case(
                rng, n_slices, size, noise=noise, blur=blur, bias=bias, deform=deform, texture=texture
            )
            yield f"phantom_{i:03d}", image, label, spacing

    meta = {
        "name": name,
        "description": (
            f"Synthetic abdominal CT phantom (seed {seed}, {n_cases} cases x {n_slices} "
            f"slices of {size}x{size}; noise {noise} HU, blur {blur} px, bias {bias}, "
            f"deform {deform}, texture {texture} HU)"
        ),
        # the module's former path: kept, as it is written into every generated dataset.json
        "reference": "morse-bench phantom generator (morse/data/phantom.py)",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {str(i): n for i, n in enumerate(PHANTOM_CLASSES)},
    }
    write_msd_dataset(Path(raw_dir), cases(), meta)
