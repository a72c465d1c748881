"""Qualitative overlays: ground truth and predictions of each variant on one test slice, with a
zoomed inset on the window where baseline and morse disagree most (chosen deterministically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from morse.analysis.plots.error_view import draw_image
from morse.analysis.plots.style import grid, no_data, save, style
from morse.analysis.vocabulary import variant_colour, variant_order

__all__ = ["plot_qualitative", "qualitative_figure", "zoom_box"]


def _window_sums(mask: np.ndarray, size: int) -> np.ndarray:
    """Sum of ``mask`` in every ``size`` x ``size`` window (valid positions only)."""
    integral = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )


def _boundary(label: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood contains another label."""
    edge = np.zeros(label.shape, dtype=bool)
    edge[1:, :] |= label[1:, :] != label[:-1, :]
    edge[:-1, :] |= label[1:, :] != label[:-1, :]
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    edge[:, :-1] |= label[:, 1:] != label[:, :-1]
    return edge


def zoom_box(
    disagreement: np.ndarray, fallback: np.ndarray | None = None, size: int | None = None
) -> tuple[int, int, int, int]:
    """Square window (row0, col0, row1, col1), end exclusive, inside the image.

    The window holds the most pixels of ``disagreement`` (first maximum in row-major order, so
    the choice is deterministic), re-centred on those pixels; when nothing disagrees, the most pixels of ``fallback``
    (e.g. ground-truth boundary), else the image centre.
    """
    height, width = disagreement.shape
    if size is None:
        size = max(8, min(height, width) // 4)
    size = int(min(size, height, width))
    for mask in (disagreement, fallback):
        if mask is not None and mask.any():
            sums = _window_sums(mask, size)
            r0, c0 = (int(i) for i in np.unravel_index(int(np.argmax(sums)), sums.shape))
            # centre the window on the bounding box of the pixels it holds, kept in the image
            rows, cols = np.nonzero(mask[r0 : r0 + size, c0 : c0 + size])
            centre_r = r0 + (int(rows.min()) + int(rows.max())) // 2
            centre_c = c0 + (int(cols.min()) + int(cols.max())) // 2
            r0 = min(max(centre_r - size // 2, 0), height - size)
            c0 = min(max(centre_c - size // 2, 0), width - size)
            return r0, c0, r0 + size, c0 + size
    r0, c0 = (height - size) // 2, (width - size) // 2
    return r0, c0, r0 + size, c0 + size


def _pick_pair(variants: list[str]) -> tuple[str, str] | None:
    """(reference, variant) for the disagreement box: baseline vs morse when present."""
    if "baseline" in variants and "morse" in variants:
        return "baseline", "morse"
    if len(variants) >= 2:
        ref = "baseline" if "baseline" in variants else variants[0]
        other = next(v for v in variants if v != ref)
        return ref, other
    return None


def _disagreement(samples: dict[str, dict[str, np.ndarray]]) -> np.ndarray | None:
    pair = _pick_pair(list(samples))
    if pair is None:
        return None
    ref, var = (samples[name] for name in pair)
    mask = ref["pred_coarse"] != var["pred_coarse"]
    if "pred_refined" in var:
        mask |= ref["pred_coarse"] != var["pred_refined"]
    return mask


def _draw_overlay(
    ax: Axes,
    sample: dict[str, np.ndarray],
    pred: np.ndarray,
    class_names: list[str],
    show_points: bool,
) -> None:
    draw_image(ax, sample)  # in colour for an RGB image
    label = sample["label"]
    for index in range(1, len(class_names) + 1):
        colour = _class_colour(index)
        for mask, line, lw in ((label == index, "solid", 1.4), (pred == index, "dashed", 1.0)):
            if mask.any() and not mask.all():
                ax.contour(
                    mask.astype(float),
                    levels=[0.5],
                    colors=[colour],
                    linestyles=line,
                    linewidths=lw,
                )
    points = np.asarray(sample.get("points", np.zeros((0, 2))), dtype=float).reshape(-1, 2)
    if show_points and len(points):
        ax.scatter(
            points[:, 1],
            points[:, 0],
            s=1.5,
            c="yellow",
            linewidths=0,
            alpha=0.7,
            rasterized=True,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _class_colour(index: int) -> str:
    return to_hex(sns.color_palette("bright", 10)[(index - 1) % 10])


def qualitative_figure(
    samples: dict[str, dict[str, np.ndarray]], class_names: list[str]
) -> tuple[Figure, tuple[int, int, int, int] | None]:
    """Overlay grid (rows: coarse, refined; columns: the variants, keys of ``samples``, each a
    run's ``qualitative.npz`` arrays) and the zoom box its insets use."""
    variants = variant_order(samples)
    fig, axes = grid(2, len(variants), 3.2, 3.3, extra_width=1.5)
    if not variants:
        no_data(axes[0, 0])
        return fig, None
    first = samples[variants[0]]
    disagreement = _disagreement(samples)
    if disagreement is None:
        disagreement = np.zeros(first["label"].shape, dtype=bool)
    box = zoom_box(disagreement, fallback=_boundary(first["label"]))
    r0, c0, r1, c1 = box
    height, width = first["label"].shape
    # put the inset in the corner opposite the zoomed window so it never hides it
    inset_x = 0.01 if (c0 + c1) / 2 > width / 2 else 0.62
    inset_y = 0.62 if (r0 + r1) / 2 > height / 2 else 0.01  # axes y grows upwards
    inset_bounds = [inset_x, inset_y, 0.37, 0.37]
    for col, name in enumerate(variants):
        sample = samples[name]
        n_points = int(np.asarray(sample.get("points", np.zeros((0, 2)))).reshape(-1, 2).shape[0])
        for row, output in enumerate(("coarse", "refined")):
            ax = axes[row, col]
            pred = sample.get(f"pred_{output}", sample["pred_coarse"])
            show_points = output == "refined"
            _draw_overlay(ax, sample, pred, class_names, show_points)
            same = output == "refined" and np.array_equal(pred, sample["pred_coarse"])
            title = f"{name} · {output}"
            if output == "refined":
                title += f" ({n_points} points)" if n_points else " (no points)"
                if same:
                    title += "\n= coarse"
            ax.set_title(title, fontsize="small", color=variant_colour(name))
            inset = ax.inset_axes(inset_bounds)
            _draw_overlay(inset, sample, pred, class_names, show_points)
            inset.set_xlim(c0 - 0.5, c1 - 0.5)
            inset.set_ylim(r1 - 0.5, r0 - 0.5)
            for spine in inset.spines.values():
                spine.set_edgecolor("white")
                spine.set_linewidth(1.0)
            ax.indicate_inset_zoom(inset, edgecolor="white", alpha=0.9)
    handles = [
        Line2D([], [], color=_class_colour(i), linewidth=1.4, label=str(n))
        for i, n in enumerate(class_names, start=1)
    ]
    handles += [
        Line2D([], [], color="0.2", linestyle="solid", label="ground truth"),
        Line2D([], [], color="0.2", linestyle="dashed", label="prediction"),
        Line2D(
            [], [], color="yellow", marker="o", linestyle="", markersize=3, label="inference points"
        ),
    ]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize="small")
    case = str(first.get("case", ""))
    slice_index = first.get("slice", "")
    fig.suptitle(
        f"case {case}, slice {slice_index}; inset: rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}",
        fontsize="small",
    )
    return fig, box


def plot_qualitative(
    samples: dict[str, dict[str, np.ndarray]], out_stem: Path, class_names: list[str]
) -> list[Path]:
    """Overlays per variant (key of ``samples``): ground truth solid, predictions (coarse row,
    refined row) dashed, the inference points as yellow dots on the refined row, and a zoomed
    inset on the window with the most baseline-vs-morse disagreement. ``class_names`` are the
    foreground classes, label value 1, 2, ..."""
    with style():
        fig, _ = qualitative_figure(samples, class_names)
        return save(fig, out_stem)
