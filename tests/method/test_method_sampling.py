"""Point sampling: uncertainty, bilinear/trilinear lookup, nearest labels, importance sampling."""

from __future__ import annotations

import torch

from morse.method.sampling import (
    calculate_uncertainty,
    importance_sample_points,
    point_sample,
    sample_labels,
    uncertain_grid_points,
)


def test_uncertainty_is_minus_top1_minus_top2_2d_and_3d():
    logits2d = torch.tensor([[[[1.0, 5.0]], [[3.0, -1.0]], [[2.5, 4.0]]]])  # (1, 3, 1, 2)
    expected2d = torch.tensor([[[[-(3.0 - 2.5), -(5.0 - 4.0)]]]])
    assert torch.equal(calculate_uncertainty(logits2d), expected2d)
    logits3d = torch.tensor([0.0, 2.0, -3.0, 7.0, 1.0, 1.0]).view(1, 2, 1, 1, 3)
    # classes (0, 2, -3) vs (7, 1, 1): top1 - top2 = 7, 1, 4
    expected3d = torch.tensor([-7.0, -1.0, -4.0]).view(1, 1, 1, 1, 3)
    assert torch.equal(calculate_uncertainty(logits3d), expected3d)


def _bilinear(img: torch.Tensor, x: float, y: float) -> float:
    """Hand bilinear interpolation, align_corners=False, zero padding; img (H, W)."""
    h, w = img.shape
    px, py = x * w - 0.5, y * h - 0.5
    x0, y0 = int(torch.floor(torch.tensor(px))), int(torch.floor(torch.tensor(py)))
    total = 0.0
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * float(img[yy, xx])
    return total


def test_point_sample_bilinear_2d_matches_hand_computation():
    img = torch.arange(12, dtype=torch.float64).view(3, 4) ** 1.5
    coords = torch.tensor([[[0.3, 0.7], [0.375, 0.5], [0.9, 0.05], [0.5, 0.5]]], dtype=torch.float64)
    out = point_sample(img.view(1, 1, 3, 4), coords)
    expected = [_bilinear(img, float(x), float(y)) for x, y in coords[0]]
    assert torch.allclose(out[0, 0], torch.tensor(expected, dtype=torch.float64), atol=1e-12)
    # a cell centre returns the pixel value exactly: x=(1+0.5)/4, y=(1+0.5)/3 -> img[1, 1]
    assert torch.isclose(out[0, 0, 1], img[1, 1])


def test_point_sample_trilinear_3d_matches_hand_computation():
    vol = torch.randn(2, 3, 4, dtype=torch.float64)  # (D, H, W)
    coords = torch.tensor([[[0.4, 0.55, 0.3], [0.125, 0.5, 0.75], [0.61, 0.2, 0.45]]], dtype=torch.float64)
    out = point_sample(vol.view(1, 1, 2, 3, 4), coords)
    for p, (x, y, z) in enumerate(coords[0].tolist()):
        pz = z * 2 - 0.5
        z0 = int(torch.floor(torch.tensor(pz)))
        value = 0.0
        for zz, wz in ((z0, 1 - (pz - z0)), (z0 + 1, pz - z0)):
            if 0 <= zz < 2:
                value += wz * _bilinear(vol[zz], x, y)
        assert abs(float(out[0, 0, p]) - value) < 1e-12


def test_labels_use_nearest_neighbour():
    target = torch.tensor([[[0, 1, 2, 3], [4, 5, 6, 7]]])  # (1, 2, 4)
    # x=0.3 -> column 1 (pixel 1.2-0.5=0.7 -> 1), y=0.2 -> row 0; x=0.9 y=0.8 -> (1, 3)
    coords = torch.tensor([[[0.3, 0.2], [0.9, 0.8], [0.01, 0.99]]])
    assert sample_labels(target, coords).tolist() == [[1, 7, 4]]
    assert sample_labels(target, coords).dtype == torch.long
    vol = torch.arange(8).view(1, 2, 2, 2)
    assert sample_labels(vol, torch.tensor([[[0.8, 0.2, 0.7]]])).tolist() == [[5]]  # z=1,y=0,x=1


def _ramp_logits(size: int = 64) -> torch.Tensor:
    """Two classes whose logit difference is 10*(x - 0.5): uncertainty -10|x - 0.5|."""
    x = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    diff = 10.0 * (x - 0.5)
    logits = torch.stack([torch.zeros(size, size), diff.expand(size, size)])
    return logits.unsqueeze(0).repeat(2, 1, 1, 1)


def test_importance_sampling_concentrates_on_uncertain_region():
    torch.manual_seed(0)
    n, beta = 256, 0.75
    coords = importance_sample_points(_ramp_logits(), n, 3.0, beta)
    assert coords.shape == (2, n, 2)
    assert coords.min() >= 0 and coords.max() <= 1
    inside = ((coords[..., 0] - 0.5).abs() <= 0.2).sum(dim=1)
    assert (inside >= int(beta * n)).all()
    # the importance part comes first and lies entirely inside the band
    assert ((coords[:, : int(beta * n), 0] - 0.5).abs() <= 0.2).all()


def test_importance_ratio_zero_gives_uniform_points():
    torch.manual_seed(0)
    coords = importance_sample_points(_ramp_logits(), 4000, 3.0, 0.0)
    band = ((coords[..., 0] - 0.5).abs() <= 0.2).float().mean()
    assert abs(float(band) - 0.4) < 0.03  # uniform, not concentrated on the band
    hist = torch.histogramdd(coords.reshape(-1, 2), bins=[4, 4], range=[0.0, 1.0, 0.0, 1.0]).hist
    expected = 8000 / 16
    assert ((hist - expected).abs() < 0.2 * expected).all()


def test_uncertain_grid_points_orders_coordinates_like_grid_sample():
    unc = torch.zeros(1, 1, 4, 5)
    unc[0, 0, 1, 3] = 2.0
    unc[0, 0, 3, 0] = 1.0
    index, coords = uncertain_grid_points(unc, 2)
    assert index.tolist() == [[1 * 5 + 3, 3 * 5 + 0]]
    assert torch.allclose(coords[0], torch.tensor([[3.5 / 5, 1.5 / 4], [0.5 / 5, 3.5 / 4]]))
    unc3 = torch.zeros(1, 1, 2, 3, 4)
    unc3[0, 0, 1, 2, 1] = 1.0
    index, coords = uncertain_grid_points(unc3, 1)
    assert index.tolist() == [[1 * 12 + 2 * 4 + 1]]
    assert torch.allclose(coords[0, 0], torch.tensor([1.5 / 4, 2.5 / 3, 1.5 / 2]))
    # sampling the map at the returned coordinates reads back the selected cells
    assert point_sample(unc3, coords)[0, 0, 0] == 1.0
    assert uncertain_grid_points(unc, 1000)[0].shape == (1, 20)  # capped at the number of cells


def test_bf16_autocast_keeps_sampling_coordinates_in_float32():
    """Under CPU bf16 autocast, a bf16 map sampled at random points equals float32 sampling of
    the same values to bf16 value precision: the coordinates are not rounded to bf16 (which
    moves them by up to 0.25 px at 256 px and, on this rough map, changes values by O(1))."""
    g = torch.Generator().manual_seed(0)
    values = torch.randn(2, 3, 256, 256, generator=g).to(torch.bfloat16)
    coords = torch.rand(2, 500, 2, generator=g)
    reference = point_sample(values.float(), coords)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sampled = point_sample(values, coords)
    assert torch.allclose(sampled.float(), reference, rtol=2.0**-8, atol=2.0**-8)
    rounded = point_sample(values.float(), coords.to(torch.bfloat16).float())
    assert (rounded - reference).abs().max() > 0.1  # the check can see rounded coordinates
    labels = torch.randint(0, 9, (2, 256, 256), generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = sample_labels(labels, coords)
    assert torch.equal(under_autocast, sample_labels(labels, coords))
