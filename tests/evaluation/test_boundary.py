"""Boundary error profile on masks of known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from morse.evaluation.boundary import boundary_error_profile, label_boundary


def test_boundary_of_a_square_is_its_rim_on_both_sides() -> None:
    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 1
    boundary = label_boundary(label, axes=(0, 1))
    assert boundary[2, 3] and boundary[1, 3]  # inner and outer rim
    assert not boundary[3, 3] and not boundary[0, 0] and not boundary[1, 1]  # interior, far, diagonal


def test_a_one_voxel_dilation_errs_only_next_to_the_boundary() -> None:
    reference = np.zeros((1, 20, 20), np.uint8)
    reference[0, 5:15, 5:15] = 1
    prediction = np.zeros_like(reference)
    prediction[0, 4:16, 4:16] = 1  # one voxel too large on every side
    rows = boundary_error_profile(prediction, reference, spacing=(3.0, 0.5, 0.5), in_plane=True,
                                  bin_mm=0.5, max_mm=2.0)
    by_distance = {r["distance_mm"]: r for r in rows}
    # the wrong voxels form the outer rim: the 40 edge voxels are boundary voxels themselves
    # (distance 0, bin [0, 0.5) mm); the 4 corners touch the square only diagonally, at
    # sqrt(2) x 0.5 = 0.71 mm from the nearest boundary voxel (bin [0.5, 1.0) mm)
    assert by_distance[0.25]["n_errors"] == 4 * 10
    assert by_distance[0.75]["n_errors"] == 4
    assert sum(r["n_errors"] for r in rows) == 12 * 12 - 10 * 10
    assert all(r["n_errors"] == 0 for d, r in by_distance.items() if d > 1.0)
    assert sum(r["n_voxels"] for r in rows) < 400  # the image corners lie beyond max_mm (2.8 mm)


def test_spacing_scales_distances_and_shapes_must_match() -> None:
    reference = np.zeros((4, 4, 40), np.uint8)
    reference[..., 20:] = 1
    prediction = reference.copy()
    prediction[..., 10] = 1  # an error 10 voxels from the boundary along x
    rows = boundary_error_profile(prediction, reference, spacing=(1.0, 1.0, 0.5), bin_mm=1.0, max_mm=20.0)
    error_bins = [r["distance_mm"] for r in rows if r["n_errors"]]
    assert error_bins == [4.5]  # 9.5 voxels x 0.5 mm from the rim voxel at x=19 -> 4.5 mm -> bin [4, 5)
    with pytest.raises(ValueError, match="shape"):
        boundary_error_profile(prediction[:2], reference, spacing=(1, 1, 1))
