"""Per-case segmentation metrics with explicit empty-mask conventions.

Every foreground class and region gets, side by side:

**Ours (Metrics Reloaded)** -- ``dice``, ``hd95_mm``, ``hd95_vox``, ``hd95_mm_monai``, ``nsd``,
``boundary_iou``:

* both prediction and reference empty: a correct rejection, Dice / NSD / Boundary IoU 1.0 and
  HD95 0.0;
* exactly one of them empty: Dice / NSD / Boundary IoU 0.0 and HD95 the worst possible value, the
  diagonal of the image's field of view (``sqrt(sum((n_i * s_i) ** 2))``; in millimetres for the
  ``*_mm`` columns with ``s_i`` the voxel spacing, in voxels for ``*_vox`` with ``s_i = 1``), so
  that averages are never biased low by missed or hallucinated structures;
* both non-empty:

  - ``hd95_mm`` / ``hd95_vox``: MedPy's ``hd95``, the 95th percentile of the *union* of the two
    directed surface-distance sets (1-connectivity surfaces), as in the authors' code;
  - ``hd95_mm_monai``: MONAI's ``compute_hausdorff_distance(percentile=95)`` in mm, the *maximum
    of the two directed* 95th percentiles (MONAI, DeepMind surface-distance, nnU-Net-era
    papers). The conventions agree when the two directed sets have the same distribution (e.g.
    a shifted shape) and differ when errors sit on one side only (a spurious island);
  - ``nsd``: normalised surface Dice at ``nsd_tolerance_mm`` (MONAI's ``compute_surface_dice``,
    in mm with the case's spacing): the fraction of both surfaces within the tolerance of the
    other;
  - ``boundary_iou``: Boundary IoU (Cheng et al., CVPR 2021), the IoU of the two masks restricted
    to the bands of width ``boundary_iou_width`` voxels inside each mask's contour (see
    :mod:`morse.evaluation.boundary`).

Every empty case is flagged in ``empty_reference`` / ``empty_prediction`` so reports can count
them.

**The authors' per-case wrapper** -- columns ``dice_authors``, ``hd95_vox_authors``, reproduced
on purpose for side-by-side tables with the paper: prediction non-empty and reference empty gives
Dice 1 and HD95 0; prediction empty gives Dice 0 and HD95 0 whatever the reference; both non-empty
gives MedPy ``dc`` and ``hd95`` in voxel units.

Distances are computed on the bounding box of the union of both masks plus a one-voxel margin
(clipped to the image), which gives exactly the same surfaces, distances and bands as the full
volume. Each row also records the tolerance and band width it was computed with
(``nsd_tolerance_mm``, ``boundary_iou_width``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from medpy.metric import binary as medpy_binary
from scipy import ndimage

from morse.evaluation.boundary import boundary_iou

METRIC_COLUMNS = [
    "dice",
    "hd95_mm",
    "hd95_vox",
    "hd95_mm_monai",
    "nsd",
    "boundary_iou",
    "dice_authors",
    "hd95_vox_authors",
]
# the settings each row was computed with (not metrics: never averaged or compared)
SETTING_COLUMNS = ["nsd_tolerance_mm", "boundary_iou_width"]
# default NSD tolerance per dataset kind (mm); kinds not listed: one voxel width, the case's
# smallest voxel side (docs/metrics.md). Synapse: FLARE21's official evaluation, NSD at 1 mm.
NSD_TOLERANCE_MM: dict[str, float] = {"synapse": 1.0}
# default Boundary-IoU band width: this fraction of the image diagonal, in voxels (Cheng et al.)
BOUNDARY_IOU_FRACTION = 0.02

__all__ = [
    "METRIC_COLUMNS",
    "SETTING_COLUMNS",
    "binary_metrics",
    "case_dice",
    "case_metrics",
    "dice_coefficient",
    "metric_options",
    "resolve_settings",
    "worst_distance",
]


def worst_distance(shape: Sequence[int], spacing: Sequence[float] | None = None) -> float:
    """Diagonal of the field of view of an image of ``shape`` (in mm with ``spacing``)."""
    extent = np.asarray(shape, dtype=np.float64)
    if spacing is not None:
        extent = extent * np.asarray(spacing, dtype=np.float64)
    return float(np.sqrt(np.sum(extent**2)))


def metric_options(run: dict) -> dict:
    """Boundary-metric keyword arguments of :func:`case_metrics` for a resolved run config
    (``run.json``): the dataset's ``evaluate`` settings, else the defaults of its kind."""
    evaluate = run.get("evaluate") or {}
    return {
        "nsd_tolerance_mm": evaluate.get(
            "nsd_tolerance_mm", NSD_TOLERANCE_MM.get(str(run.get("dataset_kind")))
        ),
        "boundary_iou_width": evaluate.get("boundary_iou_width"),
        "in_plane": int(run["spatial_dims"]) == 2,
    }


def resolve_settings(
    shape: Sequence[int],
    spacing: Sequence[float],
    nsd_tolerance_mm: float | None = None,
    boundary_iou_width: int | None = None,
    in_plane: bool = False,
) -> tuple[float, int]:
    """The NSD tolerance (mm) and Boundary-IoU width (voxels) for an image, checked.

    ``None`` gives the defaults: one voxel width (the smallest spacing) and 2 % of the image
    diagonal (of a slice when ``in_plane``) rounded, at least 1 voxel. Raises ``ValueError``
    naming the config key when a value is not positive or is larger than the image.
    """
    band_shape = tuple(shape[1:]) if in_plane else tuple(shape)
    tolerance = float(min(spacing)) if nsd_tolerance_mm is None else float(nsd_tolerance_mm)
    fov = worst_distance(shape, spacing)
    if not np.isfinite(tolerance) or tolerance <= 0 or tolerance > fov:
        raise ValueError(
            f"config key 'evaluate.nsd_tolerance_mm': {nsd_tolerance_mm} mm must be positive and "
            f"not larger than the image (field of view {fov:.1f} mm); set "
            "datasets.<name>.evaluate.nsd_tolerance_mm to a few voxel widths"
        )
    if boundary_iou_width is None:
        width = max(1, int(round(BOUNDARY_IOU_FRACTION * worst_distance(band_shape))))
    else:
        width = int(boundary_iou_width)
        if width != boundary_iou_width or width < 1 or width > min(band_shape):
            raise ValueError(
                f"config key 'evaluate.boundary_iou_width': {boundary_iou_width} must be a "
                f"positive whole number of voxels not larger than the image "
                f"({'x'.join(map(str, band_shape))}); set datasets.<name>.evaluate.boundary_iou_width"
            )
    return tolerance, width


def _crop_to_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop two non-empty masks to the bounding box of their union plus a one-voxel margin."""
    union = a | b
    slices = []
    for axis in range(union.ndim):
        other = tuple(i for i in range(union.ndim) if i != axis)
        idx = np.flatnonzero(union.any(axis=other))
        slices.append(slice(max(int(idx[0]) - 1, 0), min(int(idx[-1]) + 2, union.shape[axis])))
    sl = tuple(slices)
    return a[sl], b[sl]


def _monai_surface(
    pred: np.ndarray, ref: np.ndarray, spacing: list[float], tolerance: float
) -> tuple[float, float]:
    """MONAI's HD95 (max of the two directed 95th percentiles) and surface Dice at
    ``tolerance`` (mm) of two non-empty, cropped masks.

    The edges are MONAI's ``get_mask_edges`` without sub-voxels (``mask ^ binary_erosion(mask)``,
    SciPy's default cross) computed here on the already cropped masks, so MONAI's own foreground
    crop is skipped; the distances are MONAI's ``get_surface_distance``, and the two values
    follow ``compute_hausdorff_distance`` / ``compute_surface_dice``.
    """
    from monai.metrics.utils import get_surface_distance

    edges_pred = ndimage.binary_erosion(pred) ^ pred
    edges_ref = ndimage.binary_erosion(ref) ^ ref
    distances = [
        np.asarray(get_surface_distance(edges_pred, edges_ref, "euclidean", spacing)),
        np.asarray(get_surface_distance(edges_ref, edges_pred, "euclidean", spacing)),
    ]
    hd95 = max(float(np.quantile(d, 0.95)) for d in distances)
    within = sum(int(np.count_nonzero(d <= tolerance)) for d in distances)
    return hd95, within / sum(d.size for d in distances)


def _surface_metrics(
    pred: np.ndarray, ref: np.ndarray, spacing: list[float], tolerance: float
) -> dict:
    """MedPy HD95 (mm and voxels), MONAI HD95 (mm) and NSD of two non-empty, cropped masks."""
    hd_vox = float(medpy_binary.hd95(pred, ref))
    hd_monai, nsd = _monai_surface(pred, ref, spacing, tolerance)
    return {
        "hd95_mm": float(medpy_binary.hd95(pred, ref, voxelspacing=spacing)),
        "hd95_vox": hd_vox,
        "hd95_mm_monai": hd_monai,
        "nsd": nsd,
        "hd95_vox_authors": hd_vox,
    }


def dice_coefficient(pred: np.ndarray, ref: np.ndarray) -> float:
    """The ``dice`` column's value for two boolean masks: MedPy's ``dc`` when both are non-empty,
    1.0 when both are empty (a correct rejection), 0.0 when exactly one is."""
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    empty_pred, empty_ref = not pred.any(), not ref.any()
    if empty_pred or empty_ref:
        return 1.0 if empty_pred and empty_ref else 0.0
    return float(medpy_binary.dc(pred, ref))


def binary_metrics(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    nsd_tolerance_mm: float | None = None,
    boundary_iou_width: int | None = None,
    in_plane: bool = False,
) -> dict:
    """All metrics (both conventions) for one pair of boolean masks of equal shape.

    ``nsd_tolerance_mm``, ``boundary_iou_width`` and ``in_plane`` (Boundary-IoU bands within each
    slice of a (Z, Y, X) volume, for slice-wise models) as in :func:`resolve_settings`.
    """
    pred = np.asarray(pred, dtype=bool)
    ref = np.asarray(ref, dtype=bool)
    spacing = [float(s) for s in spacing]
    tolerance, width = resolve_settings(
        pred.shape, spacing, nsd_tolerance_mm, boundary_iou_width, in_plane
    )
    empty_ref = not ref.any()
    empty_pred = not pred.any()
    out: dict = {}
    if not empty_ref and not empty_pred:
        p, r = _crop_to_union(pred, ref)
        dice = dice_coefficient(p, r)
        out.update(dice=dice, dice_authors=dice, **_surface_metrics(p, r, spacing, tolerance))
        out["boundary_iou"] = boundary_iou(p, r, width, in_plane)
    elif empty_ref and empty_pred:
        out.update(dice=1.0, hd95_mm=0.0, hd95_vox=0.0, hd95_mm_monai=0.0)
        out.update(nsd=1.0, boundary_iou=1.0, dice_authors=0.0, hd95_vox_authors=0.0)
    else:
        worst_mm, worst_vox = worst_distance(pred.shape, spacing), worst_distance(pred.shape)
        out.update(dice=0.0, hd95_mm=worst_mm, hd95_vox=worst_vox)
        out.update(hd95_mm_monai=worst_mm, nsd=0.0, boundary_iou=0.0)
        # authors: a false positive on an empty reference scores as perfect
        out.update(dice_authors=1.0 if empty_ref else 0.0, hd95_vox_authors=0.0)
    out.update(nsd_tolerance_mm=tolerance, boundary_iou_width=width)
    out.update(empty_reference=bool(empty_ref), empty_prediction=bool(empty_pred))
    return out


def _checked_case(
    prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float] | None, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The two label arrays, refused (one line) when shapes, dtypes, spacing or labels are wrong."""
    prediction = np.asarray(prediction)
    reference = np.asarray(reference)
    if prediction.shape != reference.shape:
        raise ValueError(
            f"prediction shape {prediction.shape} != reference shape {reference.shape}"
        )
    for name, arr in (("prediction", prediction), ("reference", reference)):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise TypeError(f"{name} must be an integer label array, got dtype {arr.dtype}")
    if spacing is not None:
        if len(spacing) != prediction.ndim:
            raise ValueError(f"spacing {list(spacing)} does not match array dimension {prediction.ndim}")
        if any(not np.isfinite(s) or s <= 0 for s in spacing):
            raise ValueError(f"spacing must be positive and finite, got {list(spacing)}")
    if n_classes < 2:
        raise ValueError("class_names must include the background and at least one class")
    for name, arr in (("prediction", prediction), ("reference", reference)):
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= n_classes):
            raise ValueError(
                f"{name} has labels outside 0..{n_classes - 1} "
                f"(min {int(arr.min())}, max {int(arr.max())})"
            )
    return prediction, reference


def _label_masks(
    prediction: np.ndarray,
    reference: np.ndarray,
    class_names: Sequence[str],
    regions: dict[str, list[int]] | None,
) -> Iterator[tuple[dict, np.ndarray, np.ndarray]]:
    """``({"class", "class_index"}, predicted mask, reference mask)`` for every foreground class
    (label indices ``1 ..``), then every region (``class_index`` -1; the union of its labels)."""
    n_classes = len(class_names)
    for index in range(1, n_classes):
        yield {"class": str(class_names[index]), "class_index": index}, prediction == index, reference == index
    for region, labels in (regions or {}).items():
        labels = [int(v) for v in labels]
        if not labels or any(v < 1 or v >= n_classes for v in labels):
            raise ValueError(f"region {region!r} has invalid labels {labels}")
        yield {"class": str(region), "class_index": -1}, np.isin(prediction, labels), np.isin(reference, labels)


def case_metrics(
    prediction: np.ndarray,
    reference: np.ndarray,
    spacing: Sequence[float],
    class_names: Sequence[str],
    regions: dict[str, list[int]] | None = None,
    nsd_tolerance_mm: float | None = None,
    boundary_iou_width: int | None = None,
    in_plane: bool = False,
) -> list[dict]:
    """Metrics of one case, one dict per foreground class and per region.

    ``class_names[0]`` is the background; foreground classes are label indices
    ``1 .. len(class_names) - 1``. ``regions`` maps a region name to the label indices whose
    union forms it (e.g. BraTS ``{"WT": [1, 2, 3]}``); region rows have ``class_index == -1``.
    ``spacing`` is given in the array's axis order (e.g. Z, Y, X) in mm. The boundary settings
    are those of :func:`resolve_settings` (``None``: the defaults). Each dict has keys
    ``class``, ``class_index``, the :data:`METRIC_COLUMNS`, the :data:`SETTING_COLUMNS`,
    ``empty_reference`` and ``empty_prediction``.
    """
    spacing = [float(s) for s in spacing]
    prediction, reference = _checked_case(prediction, reference, spacing, len(class_names))
    if prediction.ndim == 3 and prediction.shape[0] == 1:
        # one slice (e.g. an images2d case): score it as the 2D image it is (a 3D erosion of a
        # one-voxel-thick volume would make every foreground pixel a surface pixel)
        prediction, reference, spacing, in_plane = prediction[0], reference[0], spacing[1:], False
    tolerance, width = resolve_settings(
        prediction.shape, spacing, nsd_tolerance_mm, boundary_iou_width, in_plane
    )
    options = {"nsd_tolerance_mm": tolerance, "boundary_iou_width": width, "in_plane": in_plane}
    return [
        {**keys, **binary_metrics(pred, ref, spacing, **options)}
        for keys, pred, ref in _label_masks(prediction, reference, class_names, regions)
    ]


def case_dice(
    prediction: np.ndarray,
    reference: np.ndarray,
    class_names: Sequence[str],
    regions: dict[str, list[int]] | None = None,
) -> list[dict]:
    """The ``dice`` column of :func:`case_metrics` alone (same classes, regions, checks and
    empty-mask convention, without the surface distances): one dict per foreground class and
    region with keys ``class``, ``class_index`` and ``dice``. What training validates with."""
    prediction, reference = _checked_case(prediction, reference, None, len(class_names))
    return [
        {**keys, "dice": dice_coefficient(pred, ref)}
        for keys, pred, ref in _label_masks(prediction, reference, class_names, regions)
    ]
