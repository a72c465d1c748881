"""Tests for morse.evaluation.metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from medpy.metric import binary as medpy_binary

from morse.evaluation.boundary import boundary_iou
from morse.evaluation.metrics import (
    METRIC_COLUMNS,
    binary_metrics,
    case_metrics,
    metric_options,
    resolve_settings,
    worst_distance,
)

NAMES = ["background", "organ"]


def _one(rows: list[dict], name: str = "organ") -> dict:
    (row,) = [r for r in rows if r["class"] == name]
    return row


def test_crop_keeps_the_boundary_iou_bands() -> None:
    # small blobs far from the image border: the crop removes most of the volume
    rng = np.random.default_rng(1)
    for _ in range(3):
        a = np.zeros((30, 30, 30), dtype=bool)
        b = np.zeros_like(a)
        a[10:20, 12:19, 9:21] = rng.random((10, 7, 12)) > 0.2
        b[11:21, 12:20, 10:20] = rng.random((10, 8, 10)) > 0.2
        for in_plane in (False, True):
            got = binary_metrics(a, b, (1.0, 1.0, 1.0), boundary_iou_width=3, in_plane=in_plane)
            assert got["boundary_iou"] == pytest.approx(boundary_iou(a, b, 3, in_plane))


def test_shifted_squares_2d_anisotropic() -> None:
    # 30x30 square shifted by 4 voxels along x (axis 1): overlap 30*26 -> dice 26/30;
    # every surface point is at most 4 voxels from the other surface and > 5 % are exactly 4.
    ref = np.zeros((64, 64), dtype=np.int64)
    pred = np.zeros_like(ref)
    ref[10:40, 10:40] = 1
    pred[10:40, 14:44] = 1
    row = _one(case_metrics(pred, ref, spacing=(1.3, 0.6), class_names=NAMES))
    assert row["dice"] == pytest.approx(26 / 30)
    assert row["hd95_vox"] == pytest.approx(4.0)
    assert row["hd95_mm"] == pytest.approx(4 * 0.6)
    assert row["dice_authors"] == pytest.approx(26 / 30)
    assert row["hd95_vox_authors"] == pytest.approx(4.0)
    assert row["class_index"] == 1
    assert not row["empty_reference"] and not row["empty_prediction"]
    assert set(METRIC_COLUMNS) <= set(row)


def test_shifted_cubes_3d_anisotropic() -> None:
    # 20^3 cube shifted by 3 slices along z with 2.5 mm slices: hd95 = 3 vox = 7.5 mm.
    ref = np.zeros((40, 40, 40), dtype=np.uint8)
    pred = np.zeros_like(ref)
    ref[10:30, 10:30, 10:30] = 1
    pred[13:33, 10:30, 10:30] = 1
    row = _one(case_metrics(pred, ref, spacing=(2.5, 0.7, 0.9), class_names=NAMES))
    assert row["dice"] == pytest.approx(17 / 20)
    assert row["hd95_vox"] == pytest.approx(3.0)
    assert row["hd95_mm"] == pytest.approx(7.5)


def test_crop_matches_full_volume_medpy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.random((24, 20, 12)) > 0.97
        b = rng.random((24, 20, 12)) > 0.97
        a[:4, :4, :4] = True  # touches the image border
        got = binary_metrics(a, b, (1.0, 2.0, 3.0))
        assert got["hd95_mm"] == pytest.approx(medpy_binary.hd95(a, b, voxelspacing=(1, 2, 3)))
        assert got["hd95_vox"] == pytest.approx(medpy_binary.hd95(a, b))
        for in_plane in (False, True):  # the bands, too, are those of the full volume
            cropped = binary_metrics(a, b, (1.0, 2.0, 3.0), boundary_iou_width=2, in_plane=in_plane)
            assert cropped["boundary_iou"] == pytest.approx(boundary_iou(a, b, 2, in_plane))


SHAPE = (20, 30)
SPACING = (2.0, 0.5)
WORST_MM = math.sqrt((20 * 2.0) ** 2 + (30 * 0.5) ** 2)
WORST_VOX = math.sqrt(20**2 + 30**2)
OBJ = (slice(5, 10), slice(5, 12))


@pytest.mark.parametrize(
    ("pred_has", "ref_has", "ours", "authors"),
    [
        # both empty: ours = correct rejection; authors = dice 0, hd95 0
        (False, False, (1.0, 0.0, 0.0), (0.0, 0.0)),
        # false positive on empty reference: ours = worst; authors = perfect
        (True, False, (0.0, WORST_MM, WORST_VOX), (1.0, 0.0)),
        # missed structure: ours = worst; authors = dice 0 but hd95 0
        (False, True, (0.0, WORST_MM, WORST_VOX), (0.0, 0.0)),
        # both present and identical
        (True, True, (1.0, 0.0, 0.0), (1.0, 0.0)),
    ],
)
def test_empty_mask_conventions(pred_has: bool, ref_has: bool, ours: tuple, authors: tuple) -> None:
    pred = np.zeros(SHAPE, dtype=np.int32)
    ref = np.zeros(SHAPE, dtype=np.int32)
    if pred_has:
        pred[OBJ] = 1
    if ref_has:
        ref[OBJ] = 1
    row = _one(case_metrics(pred, ref, SPACING, NAMES))
    assert (row["dice"], row["hd95_mm"], row["hd95_vox"]) == pytest.approx(ours)
    assert (row["dice_authors"], row["hd95_vox_authors"]) == pytest.approx(authors)
    # the MONAI HD95 and the boundary overlaps follow our convention too
    assert row["hd95_mm_monai"] == pytest.approx(ours[1])
    assert row["nsd"] == row["boundary_iou"] == ours[0]
    assert row["empty_reference"] is (not ref_has)
    assert row["empty_prediction"] is (not pred_has)


def test_worst_distance() -> None:
    assert worst_distance((3, 4)) == pytest.approx(5.0)
    assert worst_distance((3, 4), (2.0, 0.5)) == pytest.approx(math.sqrt(36 + 4))


def test_regions_are_unions_and_classes_ordered() -> None:
    ref = np.zeros((16, 16), dtype=np.int64)
    ref[2:6, 2:6] = 1
    ref[8:12, 8:12] = 2
    pred = np.zeros_like(ref)
    pred[ref == 1] = 2  # labels swapped: each class wrong, the union right
    pred[ref == 2] = 1
    rows = case_metrics(
        pred, ref, (1.0, 1.0), ["bg", "a", "b", "c"], regions={"ab": [1, 2], "c_only": [3]}
    )
    assert [r["class"] for r in rows] == ["a", "b", "c", "ab", "c_only"]
    assert [r["class_index"] for r in rows] == [1, 2, 3, -1, -1]
    assert _one(rows, "a")["dice"] == 0.0
    assert _one(rows, "ab")["dice"] == 1.0
    assert _one(rows, "ab")["hd95_mm"] == 0.0
    assert _one(rows, "c")["dice"] == 1.0 and _one(rows, "c")["empty_reference"]
    assert _one(rows, "c_only")["dice"] == 1.0


def test_invalid_inputs_raise() -> None:
    a = np.zeros((8, 8), dtype=np.int64)
    with pytest.raises(ValueError, match="shape"):
        case_metrics(a, np.zeros((8, 9), dtype=np.int64), (1.0, 1.0), NAMES)
    with pytest.raises(ValueError, match="spacing"):
        case_metrics(a, a, (1.0, 1.0, 1.0), NAMES)
    with pytest.raises(ValueError, match="labels outside"):
        case_metrics(a + 2, a, (1.0, 1.0), NAMES)
    with pytest.raises(TypeError):
        case_metrics(a.astype(float), a, (1.0, 1.0), NAMES)
    with pytest.raises(ValueError, match="region"):
        case_metrics(a, a, (1.0, 1.0), NAMES, regions={"bad": [0]})


def _square(shape=(48, 48), dy: int = 0, dx: int = 0, side: int = 20) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.int64)
    mask[10 + dy : 10 + dy + side, 10 + dx : 10 + dx + side] = 1
    return mask


@pytest.mark.parametrize("shift", [1, 3])
def test_hd95_conventions_agree_on_a_shifted_square(shift: int) -> None:
    # both directed distance sets of a shifted square have the same distribution: the union's
    # 95th percentile (MedPy) equals the larger directed one (MONAI): the shift itself
    row = _one(case_metrics(_square(dx=shift), _square(), (2.0, 2.0), NAMES))
    assert row["hd95_vox"] == pytest.approx(shift)
    assert row["hd95_mm"] == pytest.approx(2 * shift)
    assert row["hd95_mm_monai"] == pytest.approx(2 * shift)


def test_monai_columns_match_monai_public_functions() -> None:
    import torch
    from monai.metrics import compute_hausdorff_distance, compute_surface_dice

    def onehot(mask: np.ndarray) -> torch.Tensor:
        m = torch.from_numpy(mask)
        return torch.stack([~m, m]).unsqueeze(0).float()

    rng = np.random.default_rng(3)
    spacing = (2.5, 0.7, 0.9)
    for _ in range(3):
        a = rng.random((12, 20, 16)) > 0.9
        b = rng.random((12, 20, 16)) > 0.9
        a[2:8, 4:12, 3:9] = b[3:9, 5:13, 3:9] = True
        got = binary_metrics(a, b, spacing, nsd_tolerance_mm=1.5)
        hd = compute_hausdorff_distance(onehot(a), onehot(b), percentile=95, spacing=list(spacing))
        nsd = compute_surface_dice(onehot(a), onehot(b), [1.5], spacing=list(spacing))
        assert got["hd95_mm_monai"] == pytest.approx(float(hd), rel=1e-5)
        assert got["nsd"] == pytest.approx(float(nsd), rel=1e-5)


def test_hd95_conventions_differ_on_a_one_sided_error() -> None:
    # prediction = reference square + a spurious 8-voxel line 3 voxels right of its right side.
    # pred surface: the square's 76 border voxels (distance 0) + 8 line voxels (distance 3);
    # ref surface: 76 voxels, all on the prediction's surface (distance 0).
    # MedPy, union of 160 distances: 95th percentile at rank 0.95 * 159 = 151.05, between
    # sorted[151] = 0 and sorted[152] = 3 -> 0.05 * 3 = 0.15 voxels.
    # MONAI, max of directed: pred->ref, 84 distances, rank 0.95 * 83 = 78.85 >= 76 -> 3 voxels.
    ref = _square()
    pred = ref.copy()
    pred[12:20, 32] = 1
    for a, b in ((pred, ref), (ref, pred)):  # symmetric in both conventions
        row = _one(case_metrics(a, b, (2.0, 2.0), NAMES))
        assert row["hd95_vox"] == pytest.approx(0.15)
        assert row["hd95_mm"] == pytest.approx(0.30)
        assert row["hd95_mm_monai"] == pytest.approx(6.0)
        # NSD at 2 mm (one voxel): the 8 line voxels are 6 mm away: (76 + 76) / (84 + 76)
        assert row["nsd"] == pytest.approx(152 / 160)
        # Boundary IoU at width 1: bands = the borders, 76 shared, 84 in the union
        assert row["boundary_iou_width"] == 1
        assert row["boundary_iou"] == pytest.approx(76 / 84)


@pytest.mark.parametrize(
    ("shift", "tolerance", "expected"),
    [
        # shift 1: half of each border (38 of 76 voxels) lies on the other border, the rest at 1
        (1, 0.5, 0.5),
        (1, 1.0, 1.0),
        # shift 3, per border of 76: top/bottom rows 17 at 0 and 1, 1, 1 at 1, 2, 3; the side
        # facing the shift 18 at 3; the other side 1, 2, 3 (x14), 2, 1 -> within 1: 38, within 2: 42
        (3, 1.0, 38 / 76),
        (3, 2.0, 42 / 76),
        (3, 3.0, 1.0),
    ],
)
def test_nsd_of_a_shifted_square(shift: int, tolerance: float, expected: float) -> None:
    row = _one(
        case_metrics(_square(dx=shift), _square(), (1.0, 1.0), NAMES, nsd_tolerance_mm=tolerance)
    )
    assert row["nsd"] == pytest.approx(expected, abs=1e-6)
    assert row["nsd_tolerance_mm"] == tolerance


def test_nsd_tolerance_is_in_mm() -> None:
    # a 1-voxel shift along x is within 1.5 mm at 1 mm voxels (1.0 above) but not at 5 mm:
    # per border, the 38 voxels on the other border, plus the two end voxels of the trailing
    # side, 1 mm (one row) from a corner of the other square -> 40 / 76
    row = _one(case_metrics(_square(dx=1), _square(), (1.0, 5.0), NAMES, nsd_tolerance_mm=1.5))
    assert row["nsd"] == pytest.approx(40 / 76)


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        # reference 20x20, prediction the concentric 16x16 (2 voxels inside):
        # width 2: bands 20x20 - 16x16 and 16x16 - 12x12 are disjoint -> 0
        (2, 0.0),
        # width 3: 20^2 - 14^2 = 204 and 16^2 - 10^2 = 156, shared 16^2 - 14^2 = 60,
        # union 20^2 - 10^2 = 300 -> 0.2
        (3, 0.2),
        # width 10 fills both squares: Boundary IoU = mask IoU = 256 / 400
        (10, 0.64),
    ],
)
def test_boundary_iou_concentric_squares(width: int, expected: float) -> None:
    # squares are the discs of the chessboard metric the band uses (3x3 erosion): exact values
    ref = _square()
    pred = _square(dy=2, dx=2, side=16)
    row = _one(case_metrics(pred, ref, (0.7, 0.7), NAMES, boundary_iou_width=width))
    assert row["boundary_iou"] == pytest.approx(expected)
    assert row["dice"] == pytest.approx(2 * 256 / (256 + 400))


def test_boundary_iou_shifted_square() -> None:
    # 20x20 shifted by one voxel, width 2: bands of 144 voxels each; shared: the 4 rows outside
    # both inner squares over the 19 common columns (76) + columns 11 and 29 on the 16 inner
    # rows (32) = 108; union 288 - 108 = 180 -> 0.6 (mask IoU is 380 / 420 = 0.90)
    row = _one(case_metrics(_square(dx=1), _square(), (1.0, 1.0), NAMES, boundary_iou_width=2))
    assert row["boundary_iou"] == pytest.approx(0.6)


def test_boundary_iou_concentric_discs() -> None:
    yy, xx = np.mgrid[:96, :96]
    radius = np.hypot(yy - 47.5, xx - 47.5)
    big = (radius < 30).astype(np.int64)
    # equal discs: 1; a disc 6 voxels inside: every voxel of the small one is at Euclidean
    # distance >= 5 (chessboard >= 5 / sqrt(2) > 2) from the big one's outside -> bands disjoint
    assert _one(case_metrics(big, big, (1.0, 1.0), NAMES, boundary_iou_width=2))["boundary_iou"] == 1.0
    small = (radius < 24).astype(np.int64)
    assert _one(case_metrics(small, big, (1.0, 1.0), NAMES, boundary_iou_width=2))["boundary_iou"] == 0.0
    # one voxel smaller: mask IoU ~ (29/30)^2 = 0.93, Boundary IoU far lower (the point of it)
    near = (radius < 29).astype(np.int64)
    row = _one(case_metrics(near, big, (1.0, 1.0), NAMES, boundary_iou_width=2))
    mask_iou = near.sum() / big.sum()
    assert mask_iou > 0.9 and 0.2 < row["boundary_iou"] < mask_iou - 0.3


def test_boundary_iou_3d_and_slice_wise() -> None:
    # a 10^3 cube shifted by one slice along z, width 2
    ref = np.zeros((14, 14, 14), dtype=np.int64)
    ref[2:12, 2:12, 2:12] = 1
    pred = np.roll(ref, 1, axis=0)
    # slice-wise: each slice's band is the 10^2 - 6^2 = 64 ring; 9 shared slices of 11
    flat = _one(case_metrics(pred, ref, (1.0, 1.0, 1.0), NAMES, boundary_iou_width=2, in_plane=True))
    assert flat["boundary_iou"] == pytest.approx(9 / 11)
    # 3D: bands of 10^3 - 6^3 = 784; shared: the in-plane ring on 9 slices (576) + the inner
    # 6^2 column on the 2 slices outside both inner cubes (72) = 648; union 1568 - 648 = 920
    cube = _one(case_metrics(pred, ref, (1.0, 1.0, 1.0), NAMES, boundary_iou_width=2))
    assert cube["boundary_iou"] == pytest.approx(648 / 920)


def test_boundary_defaults_and_bad_settings() -> None:
    ref = np.zeros((4, 96, 96), dtype=np.int64)
    ref[:, 20:40, 20:40] = 1
    spacing = (3.0, 0.8, 0.8)
    # defaults: one voxel width (0.8 mm); 2 % of the diagonal (of a slice in-plane, 135.8 -> 3)
    flat = _one(case_metrics(ref, ref, spacing, NAMES, in_plane=True))
    assert flat["nsd_tolerance_mm"] == 0.8 and flat["boundary_iou_width"] == 3
    assert _one(case_metrics(ref, ref, spacing, NAMES))["boundary_iou_width"] == 3  # 135.9
    assert resolve_settings((48, 48, 48), (1.0, 1.0, 1.0))[1] == 2  # 83.1 -> 1.66 -> 2
    assert resolve_settings((20, 20), (1.0, 1.0))[1] == 1  # never below one voxel
    for bad in (0, -1.0, float("nan"), 1e4):
        with pytest.raises(ValueError, match="evaluate.nsd_tolerance_mm"):
            case_metrics(ref, ref, spacing, NAMES, nsd_tolerance_mm=bad)
    for bad in (0, -2, 1.5, 97):
        with pytest.raises(ValueError, match="evaluate.boundary_iou_width"):
            case_metrics(ref, ref, spacing, NAMES, boundary_iou_width=bad, in_plane=True)
    # slice-wise, the image is the 96 x 96 slice; volumetric, the 4-slice axis limits the width
    with pytest.raises(ValueError, match="evaluate.boundary_iou_width"):
        case_metrics(ref, ref, spacing, NAMES, boundary_iou_width=5)


def test_metric_options_from_run_config() -> None:
    run = {"dataset_kind": "synapse", "spatial_dims": 2, "evaluate": {"slice_batch": 16}}
    assert metric_options(run) == {
        "nsd_tolerance_mm": 1.0, "boundary_iou_width": None, "in_plane": True,
    }
    run = {"dataset_kind": "phantom3d", "spatial_dims": 3,
           "evaluate": {"nsd_tolerance_mm": 2.5, "boundary_iou_width": 4}}
    assert metric_options(run) == {
        "nsd_tolerance_mm": 2.5, "boundary_iou_width": 4, "in_plane": False,
    }
    assert metric_options({"dataset_kind": "phantom2d", "spatial_dims": 2})["nsd_tolerance_mm"] is None


# ---------------------------------------------------------------- config keys


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"nsd_tolerance_mm": 0}, r"datasets\.phantom2d\.evaluate\.nsd_tolerance_mm"),
        ({"nsd_tolerance_mm": -1.5}, r"datasets\.phantom2d\.evaluate\.nsd_tolerance_mm"),
        ({"boundary_iou_width": 0}, r"datasets\.phantom2d\.evaluate\.boundary_iou_width"),
        ({"boundary_iou_width": 2.5}, r"datasets\.phantom2d\.evaluate\.boundary_iou_width"),
        # the tiny phantom's slices are 64 x 64
        ({"boundary_iou_width": 65}, r"datasets\.phantom2d\.evaluate\.boundary_iou_width.*64x64"),
    ],
)
def test_bad_boundary_settings_fail_at_config_check(settings: dict, message: str) -> None:
    from morse.config import ConfigError, validate_config

    config = _tiny_config()
    config["datasets"]["phantom2d"]["evaluate"] = settings
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_boundary_settings_reach_the_run_config() -> None:
    from morse.config import run_config, validate_config

    config = _tiny_config()
    config["datasets"]["phantom2d"]["evaluate"] = {"nsd_tolerance_mm": 2.0, "boundary_iou_width": 32}
    config = validate_config(config)
    run = run_config(config, "phantom2d", "unet", "morse", 0)
    assert metric_options(run) == {"nsd_tolerance_mm": 2.0, "boundary_iou_width": 32, "in_plane": True}
    assert run["evaluate"]["slice_batch"] == 16  # the top-level evaluate settings are kept


def _tiny_config() -> dict:
    import yaml

    from morse.config import REPO_ROOT

    return yaml.safe_load((REPO_ROOT / "config" / "tiny.yaml").read_text())


def test_a_single_slice_case_is_scored_as_a_2d_image() -> None:
    """A (1, H, W) case (images2d) gets the 2D surface distances, not those of a one-voxel-thick
    volume whose every foreground pixel is surface: a 10 x 10 square against the same square
    grown by 2 columns has HD95 2 (the grown columns are 1 and 2 px from the square's edge)."""
    reference = np.zeros((1, 20, 24), np.uint8)
    reference[0, 5:15, 5:15] = 1
    prediction = np.zeros_like(reference)
    prediction[0, 5:15, 5:17] = 1
    flat = case_metrics(prediction[0], reference[0], [1.0, 1.0], ["background", "square"])[0]
    single = case_metrics(prediction, reference, [3.0, 1.0, 1.0], ["background", "square"])[0]
    assert single["hd95_mm"] == pytest.approx(flat["hd95_mm"]) and single["hd95_mm_monai"] == pytest.approx(2.0)
    assert single["dice"] == pytest.approx(2 * 100 / 220)
    assert {k: single[k] for k in flat if k != "class"} == pytest.approx({k: flat[k] for k in flat if k != "class"})
