"""What subdivision did at the overwritten pixels of one case, against a hand count."""

from __future__ import annotations

import numpy as np
import pytest

from morse.evaluation.refinement import refinement_counts

CLASSES = ["background", "a", "b"]


def _by(rows: list[dict], step: str) -> dict[str, dict]:
    return {r["class"]: r for r in rows if r["step"] == step}


def test_counts_at_overwritten_pixels_match_a_hand_count():
    reference = np.array([[0, 0, 1], [1, 2, 2]])
    coarse = np.array([[0, 1, 1], [0, 2, 1]])
    refined = np.array([[0, 0, 2], [1, 2, 1]])
    step1 = np.array([[0, 1, 1], [1, 0, 0]], bool)
    step2 = np.array([[0, 1, 0], [0, 0, 1]], bool)
    rows = refinement_counts(coarse, refined, np.stack([step1, step2]), reference, CLASSES)
    assert len(rows) == 3 * len(CLASSES)  # steps 1, 2 and "all", every class
    one = _by(rows, "1")
    # (0,1): ref 0, coarse wrong -> refined right; (0,2): ref 1, right -> wrong; (1,0): ref 1 fixed
    background = one["background"]
    assert (background["overwritten"], background["fixed"], background["broken"]) == (1, 1, 0)
    assert (one["a"]["overwritten"], one["a"]["fixed"], one["a"]["broken"]) == (2, 1, 1)
    assert (one["a"]["coarse_correct"], one["a"]["refined_correct"]) == (1, 1)
    assert one["b"]["overwritten"] == 0
    two = _by(rows, "2")  # (0,1) fixed again; (1,2): ref 2, coarse 1, refined 1: wrong to wrong
    assert (two["background"]["fixed"], two["b"]["wrong_to_wrong"], two["b"]["overwritten"]) == (1, 1, 1)
    union = _by(rows, "all")
    assert [union[c]["overwritten"] for c in CLASSES] == [1, 2, 1]  # (0,1) counted once
    assert sum(r["fixed"] for r in union.values()) == 2
    assert sum(r["broken"] for r in union.values()) == 1
    for r in rows:  # every overwritten pixel is in exactly one of the four transitions
        right_to_right = r["coarse_correct"] - r["broken"]
        assert right_to_right + r["fixed"] + r["broken"] + r["wrong_to_wrong"] == r["overwritten"]
        assert r["refined_correct"] == right_to_right + r["fixed"]


def test_counts_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        refinement_counts(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((1, 3, 2), bool),
                          np.zeros((2, 3)), CLASSES)
