"""The error view of the qualitative slice: false positives and false negatives as two colours over
the image (readable on thin structures, where contours of ground truth and prediction tangle), the
inference points on top; colour (RGB) images shown in colour.

Colours are from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies): vermillion for a false positive (foreground predicted on background), blue for a
false negative (foreground predicted as background), reddish purple for a foreground pixel given
another foreground class (only multi-class data has any), yellow for the inference points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from morse.analysis.plots.style import grid, no_data, save, style
from morse.analysis.vocabulary import variant_colour, variant_order

__all__ = ["ERROR_COLOURS", "ERROR_KINDS", "POINT_COLOUR", "draw_image", "error_codes", "error_figure",
           "error_rgba", "plot_error_view"]  # fmt: skip

#: Error kinds in code order (code 0: correct, no colour).
ERROR_KINDS = ("false positive", "false negative", "wrong class")
ERROR_COLOURS = {"false positive": "#D55E00", "false negative": "#0072B2", "wrong class": "#CC79A7"}
POINT_COLOUR = "#F0E442"
ERROR_ALPHA = 0.85


def error_codes(label: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per pixel: 0 correct, 1 false positive (background labelled, foreground predicted), 2 false
    negative (foreground labelled, background predicted), 3 wrong foreground class."""
    label, pred = np.asarray(label), np.asarray(pred)
    if label.shape != pred.shape:
        raise ValueError(f"label {label.shape} and prediction {pred.shape} differ in shape")
    codes = np.zeros(label.shape, dtype=np.uint8)
    codes[(label == 0) & (pred != 0)] = 1
    codes[(label != 0) & (pred == 0)] = 2
    codes[(label != 0) & (pred != 0) & (label != pred)] = 3
    return codes


def error_rgba(label: np.ndarray, pred: np.ndarray, alpha: float = ERROR_ALPHA) -> np.ndarray:
    """(H, W, 4) overlay: each error pixel in its kind's colour at ``alpha``, the rest transparent."""
    codes = error_codes(label, pred)
    table = np.zeros((len(ERROR_KINDS) + 1, 4))
    for code, kind in enumerate(ERROR_KINDS, start=1):
        table[code] = to_rgba(ERROR_COLOURS[kind], alpha)
    return table[codes]


def draw_image(ax: Axes, sample: dict[str, np.ndarray]) -> None:
    """The slice's image: in colour when the sample has ``image_rgb`` (H, W, 3; each channel
    scaled between its 1st and 99th percentile), else grey between those of ``image``."""
    if "image_rgb" in sample:
        rgb = np.asarray(sample["image_rgb"], dtype=float)
        lo = np.percentile(rgb, 1, axis=(0, 1))
        hi = np.percentile(rgb, 99, axis=(0, 1))
        ax.imshow(np.clip((rgb - lo) / np.where(hi > lo, hi - lo, 1.0), 0, 1), interpolation="nearest")
        return
    image = np.asarray(sample["image"], dtype=float)
    lo, hi = np.percentile(image, [1, 99]) if image.size else (0.0, 1.0)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")


def _points(sample: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(sample.get("points", np.zeros((0, 2))), dtype=float).reshape(-1, 2)


def _panel(ax: Axes, sample: dict[str, np.ndarray], pred: np.ndarray, show_points: bool, gid: str) -> np.ndarray:
    draw_image(ax, sample)
    codes = error_codes(sample["label"], pred)
    ax.imshow(error_rgba(sample["label"], pred), interpolation="nearest", gid=f"errors:{gid}")
    points = _points(sample)
    if show_points and len(points):
        ax.scatter(points[:, 1], points[:, 0], s=1.2, c=POINT_COLOUR, alpha=0.8, linewidths=0, rasterized=True,
                   gid=f"points:{gid}")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    return codes


def error_figure(samples: dict[str, dict[str, np.ndarray]]) -> Figure:
    """Rows: coarse, refined output; columns: the variants (keys of ``samples``, each a run's
    ``qualitative.npz`` arrays). Overlay gid ``errors:<variant>:<output>``, points
    ``points:<variant>:refined``; each title counts the false positives and negatives."""
    variants = variant_order(samples)
    fig, axes = grid(2, len(variants), 3.2, 3.3, extra_width=1.6)
    if not variants:
        no_data(axes[0, 0])
        return fig
    seen: set[int] = set()
    for col, name in enumerate(variants):
        sample = samples[name]
        for row, output in enumerate(("coarse", "refined")):
            pred = sample.get(f"pred_{output}", sample["pred_coarse"])
            codes = _panel(axes[row, col], sample, pred, output == "refined", f"{name}:{output}")
            seen |= set(np.unique(codes).tolist())
            counts = np.bincount(codes.ravel(), minlength=len(ERROR_KINDS) + 1)
            axes[row, col].set_title(f"{name} · {output}\nFP {counts[1]} · FN {counts[2]}"
                                     + (f" · wrong class {counts[3]}" if counts[3] else ""),
                                     fontsize="small", color=variant_colour(name))  # fmt: skip
    handles = [Patch(facecolor=ERROR_COLOURS[kind], label=kind) for code, kind in enumerate(ERROR_KINDS, start=1)
               if code < 3 or code in seen]  # fmt: skip
    handles.append(Line2D([], [], color=POINT_COLOUR, marker="o", linestyle="", markersize=3,
                          label="inference points"))  # fmt: skip
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize="small")
    first = samples[variants[0]]
    fig.suptitle(f"Errors, case {first.get('case', '')}, slice {first.get('slice', '')}: pixels per kind "
                 "(FP: foreground predicted on background; FN: foreground predicted as background)",
                 fontsize="small")  # fmt: skip
    return fig


def plot_error_view(samples: dict[str, dict[str, np.ndarray]], out_stem: Path) -> list[Path]:
    """The error view of :func:`error_figure`, saved as PNG and SVG."""
    with style():
        return save(error_figure(samples), out_stem)
