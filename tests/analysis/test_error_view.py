"""The error view's colours on a tiny hand-made prediction, and colour images shown in colour."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.image import AxesImage

from morse.analysis.plots.error_view import (
    ERROR_ALPHA,
    ERROR_COLOURS,
    error_codes,
    error_figure,
    error_rgba,
)
from morse.analysis.plots.qualitative import qualitative_figure
from morse.engine.evaluate import _qualitative

# background 0, classes 1 and 2; FP at (0, 0), FN at (0, 2), a wrong class at (2, 1)
LABEL = np.array([[0, 1, 1], [0, 1, 0], [2, 2, 0]], dtype=np.uint8)
PRED = np.array([[1, 1, 0], [0, 1, 0], [2, 1, 0]], dtype=np.uint8)
VERMILLION, BLUE = to_rgba("#D55E00", ERROR_ALPHA), to_rgba("#0072B2", ERROR_ALPHA)


def test_error_codes_and_colours_at_known_pixels() -> None:
    codes = error_codes(LABEL, PRED)
    assert codes.tolist() == [[1, 0, 2], [0, 0, 0], [0, 3, 0]]
    rgba = error_rgba(LABEL, PRED)
    assert rgba.shape == (3, 3, 4)
    np.testing.assert_allclose(rgba[0, 0], VERMILLION)  # false positive
    np.testing.assert_allclose(rgba[0, 2], BLUE)  # false negative
    np.testing.assert_allclose(rgba[2, 1], to_rgba(ERROR_COLOURS["wrong class"], ERROR_ALPHA))
    correct = codes == 0
    assert (rgba[correct] == 0).all()  # correct pixels leave the image as it is
    assert ERROR_COLOURS["false positive"] != ERROR_COLOURS["false negative"]


def _sample(pred_refined: np.ndarray, rgb: bool = False) -> dict[str, np.ndarray]:
    binary = (LABEL == 1).astype(np.uint8)
    sample = {"image": np.arange(9, dtype=np.float32).reshape(3, 3), "label": binary,
              "pred_coarse": binary.copy(), "pred_refined": pred_refined,
              "points": np.array([[1.0, 1.0], [2.0, 0.0]]), "case": np.array("c0"), "slice": np.array(0)}  # fmt: skip
    if rgb:
        sample["image_rgb"] = np.stack([sample["image"], 8 - sample["image"], np.full((3, 3), 4.0)], axis=-1)
    return sample


def _images(ax) -> list[AxesImage]:
    return [child for child in ax.get_children() if isinstance(child, AxesImage)]


def test_the_error_figure_draws_the_overlay_points_and_legend() -> None:
    refined = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.uint8)  # FP (0, 0), FN (0, 2)
    fig = error_figure({"baseline": _sample(_sample(refined)["pred_coarse"]), "morse": _sample(refined)})
    morse_refined = fig.axes[3]  # rows coarse, refined; columns baseline, morse
    overlay = next(image for image in _images(morse_refined) if image.get_gid() == "errors:morse:refined")
    np.testing.assert_allclose(np.asarray(overlay.get_array())[0, 0], VERMILLION)
    np.testing.assert_allclose(np.asarray(overlay.get_array())[0, 2], BLUE)
    assert "FP 1 · FN 1" in morse_refined.get_title()
    assert "FP 0 · FN 0" in fig.axes[0].get_title()  # the baseline's coarse output is the label
    points = [c for c in morse_refined.collections if c.get_gid() == "points:morse:refined"]
    assert len(points) == 1 and points[0].get_offsets().tolist() == [[1.0, 1.0], [0.0, 2.0]]  # (x=col, y=row)
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == ["false positive", "false negative", "inference points"]  # no wrong class in binary data


def test_colour_images_are_shown_in_colour() -> None:
    grey, colour = error_figure({"morse": _sample(LABEL)}), error_figure({"morse": _sample(LABEL, rgb=True)})
    assert np.asarray(_images(grey.axes[0])[0].get_array()).ndim == 2
    shown = np.asarray(_images(colour.axes[0])[0].get_array())
    assert shown.shape == (3, 3, 3) and shown.min() >= 0 and shown.max() <= 1
    # the first channel rises left to right, the second falls: scaled, not mixed into grey
    assert shown[0, 2, 0] > shown[0, 0, 0] and shown[0, 2, 1] < shown[0, 0, 1]
    contours, _ = qualitative_figure({"morse": _sample(LABEL, rgb=True)}, ["a"])
    assert np.asarray(_images(contours.axes[0])[0].get_array()).shape == (3, 3, 3)


def test_the_evaluation_keeps_an_rgb_slice_in_colour() -> None:
    image = np.random.default_rng(0).random((3, 2, 4, 4)).astype(np.float32)  # channels, slices, H, W
    label = np.zeros((2, 4, 4), dtype=np.uint8)
    label[1, 1:3, 1:3] = 1  # the slice with foreground is the one shown
    run = {"spatial_dims": 3, "train": {"patch_size": [4, 4, 4]}, "head": {}}  # no 2D points to sample
    out = _qualitative(None, run, image, label, {"coarse": label.copy()}, "c0", None, colour=True)
    z = int(out["slice"])
    np.testing.assert_array_equal(out["image_rgb"], np.moveaxis(image[:, z], 0, -1))
    np.testing.assert_array_equal(out["image"], image[0, z])
    grey = _qualitative(None, run, image, label, {"coarse": label.copy()}, "c0", None)
    assert "image_rgb" not in grey
