"""Figures of the MORSE benchmark: per-class scores, paired cases, qualitative overlays, training.

Every public ``plot_*`` function takes tidy inputs, writes ``<out_stem>.png`` and
``<out_stem>.svg`` and returns the written paths (``plot_ablations`` returns ``[]`` and writes
nothing when there is no ablation variant, ``plot_cost_accuracy`` when fewer than two variants
are timed); ``ablation_summary``, ``cost_accuracy_summary`` and ``boundary_error_rates``
return the numbers those figures draw, ``parse_ablation`` splits ``<base>-<knob>-<value>``. Figures are :class:`matplotlib.figure.Figure` objects with the Agg
canvas attached explicitly (no pyplot, no global backend switch, no display needed), styled with
seaborn contexts that are restored afterwards, and written deterministically (fixed jitter seed, fixed SVG hash salt, no dates in the
metadata), so the same inputs give the same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from morse.analysis.stats import bootstrap_ci
from morse.data.atomic import atomic_path
from morse.method.config import HeadConfig

__all__ = [
    "ablation_summary",
    "boundary_error_rates",
    "cost_accuracy_summary",
    "parse_ablation",
    "plot_ablations",
    "plot_boundary_errors",
    "plot_cost_accuracy",
    "plot_per_class_scores",
    "plot_paired_cases",
    "plot_qualitative",
    "plot_training_curves",
    "variant_colour",
]

#: Fixed colours (seaborn "colorblind" palette) for the variants the suite knows; any other
#: variant name (ablations such as ``morse-e3``) gets a colour from the rest of the palette chosen
#: by a stable hash of its name, so a variant keeps its colour in every figure and every report.
_PALETTE = sns.color_palette("colorblind", 10)
_KNOWN_VARIANTS = {
    "baseline": 7,
    "pointrend": 1,
    "implicit_pointrend": 2,
    "morse": 0,
    "morse_deterministic": 4,
}
_SPARE = [3, 5, 6, 8, 9]
_METRIC_LABELS = {"dice": "Dice", "hd95_mm": "HD95 (mm)", "hd95_vox": "HD95 (voxels)"}
_OUTPUT_ORDER = {"coarse": 0, "refined": 1}
_RC = {"svg.hashsalt": "morse-bench", "svg.fonttype": "path", "figure.dpi": 100}


def variant_colour(variant: str) -> str:
    """Colour (hex) of a variant, identical in every figure."""
    if variant in _KNOWN_VARIANTS:
        return to_hex(_PALETTE[_KNOWN_VARIANTS[variant]])
    index = _SPARE[zlib.crc32(variant.encode()) % len(_SPARE)]
    return to_hex(_PALETTE[index])


def _output_colour(variant: str, output: str) -> str:
    """Variant colour; the refined output is a darker shade of the same colour."""
    rgb = np.array(to_rgb(variant_colour(variant)))
    if output == "refined":
        rgb = rgb * 0.6
    return to_hex(tuple(rgb))


def _variant_order(variants: Iterator[str] | list[str]) -> list[str]:
    """Known variants in their canonical order, then the others alphabetically."""
    names = sorted(set(variants))
    known = [v for v in _KNOWN_VARIANTS if v in names]
    return known + [v for v in names if v not in _KNOWN_VARIANTS]


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Seaborn styling plus deterministic SVG output, restored on exit."""
    with (
        matplotlib.rc_context(_RC),
        sns.axes_style("whitegrid"),
        sns.plotting_context("notebook", font_scale=0.9),
    ):
        yield


@contextlib.contextmanager
def _seeded(seed: int = 0) -> Iterator[None]:
    """Fix numpy's global RNG (seaborn's strip jitter uses it) and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out_stem: Path) -> list[Path]:
    """Write PNG and SVG next to each other (parents created) and return both paths."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(_RC):
        for ext, metadata in (("png", {"Software": None}), ("svg", {"Date": None})):
            path = out_stem.with_name(out_stem.name + f".{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=150, metadata=metadata)
            paths.append(path)
    return paths


def _facets(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Sorted (dataset, backbone) pairs present in a frame."""
    pairs = frame[["dataset", "backbone"]].drop_duplicates().itertuples(index=False)
    return sorted((str(d), str(b)) for d, b in pairs)


def _finite(values: pd.Series) -> pd.Series:
    """Float copy with +-inf turned into NaN (an infinite HD95 marks an empty mask)."""
    out = pd.to_numeric(values, errors="coerce").astype(float)
    return out.where(np.isfinite(out))


def _no_data(ax: Axes, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------------------------
# per-class scores
# --------------------------------------------------------------------------------------------
def _per_class_figure(metrics: pd.DataFrame) -> Figure:
    """Box + strip plot per class, one row per dataset x backbone, one column per metric."""
    metric_names = [m for m in ("dice", "hd95_mm") if m in metrics.columns]
    data = metrics.copy()
    for m in metric_names:
        data[m] = _finite(data[m])
    # one point per case: average over seeds first (the seeds are not independent cases)
    keys = ["dataset", "backbone", "variant", "output", "class", "class_index", "case"]
    per_case = data.groupby(keys, as_index=False, dropna=False)[metric_names].mean()
    per_case["group"] = per_case["variant"].astype(str) + " · " + per_case["output"].astype(str)
    facets = _facets(per_case) if len(per_case) else []
    n_classes = max(1, per_case["class"].nunique()) if len(per_case) else 1
    n_groups = max(1, per_case["group"].nunique()) if len(per_case) else 1
    width = max(6.0, min(30.0, 0.32 * n_classes * n_groups + 2.0))
    fig = _new_figure(width * max(1, len(metric_names)), 3.6 * max(1, len(facets)))
    axes = fig.subplots(max(1, len(facets)), max(1, len(metric_names)), squeeze=False)
    if not facets or not metric_names:
        _no_data(axes[0, 0])
        return fig
    for row, (dataset, backbone) in enumerate(facets):
        sub = per_case[(per_case["dataset"] == dataset) & (per_case["backbone"] == backbone)]
        pairs_ci = sub[["class", "class_index"]].drop_duplicates()
        pairs_ci = pairs_ci.assign(_region=pairs_ci["class_index"] < 0)  # regions last
        classes = (
            pairs_ci.sort_values(["_region", "class_index", "class"])["class"]
            .astype(str)
            .drop_duplicates()
            .tolist()
        )
        pairs = sub[["variant", "output"]].drop_duplicates()
        order = _variant_order(pairs["variant"].astype(str).tolist())
        groups = sorted(
            ((str(v), str(o)) for v, o in pairs.itertuples(index=False)),
            key=lambda vo: (order.index(vo[0]), _OUTPUT_ORDER.get(vo[1], 9), vo[1]),
        )
        hue_order = [f"{v} · {o}" for v, o in groups]
        palette = {f"{v} · {o}": _output_colour(v, o) for v, o in groups}
        plot_data = sub.assign(**{"class": sub["class"].astype(str)})
        for col, metric in enumerate(metric_names):
            ax = axes[row, col]
            values = plot_data.dropna(subset=[metric])
            if values.empty:
                _no_data(ax)
                continue
            common = dict(
                data=values,
                x="class",
                y=metric,
                hue="group",
                order=classes,
                hue_order=hue_order,
                palette=palette,
                ax=ax,
            )
            sns.boxplot(**common, showfliers=False, linewidth=0.8, legend=False)
            sns.stripplot(
                **common,
                dodge=True,
                size=2.5,
                jitter=0.15,
                linewidth=0.3,
                edgecolor="white",
                alpha=0.8,
                legend=False,
            )
            ax.set_title(f"{dataset} / {backbone}: {_METRIC_LABELS.get(metric, metric)}")
            ax.set_xlabel("")
            ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
            ax.tick_params(axis="x", labelrotation=30)
        handles = [
            Line2D([], [], marker="s", linestyle="", markersize=8, color=palette[g], label=g)
            for g in hue_order
        ]
        axes[row, -1].legend(
            handles=handles,
            title="variant · output",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize="small",
        )
    return fig


def plot_per_class_scores(metrics: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Box + strip plot of Dice and HD95 (mm) per class by variant/output.

    One point per test case (mean over seeds); one row of panels per dataset x backbone.
    Non-finite HD95 values (empty masks) are left out; the report counts them separately.
    """
    with _style(), _seeded(0):
        fig = _per_class_figure(metrics)
        return _save(fig, out_stem)


# --------------------------------------------------------------------------------------------
# paired cases (slope plot)
# --------------------------------------------------------------------------------------------
def _case_means(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean of ``metric`` per dataset x backbone x variant x output x case (classes and seeds)."""
    data = metrics.assign(**{metric: _finite(metrics[metric])})
    keys = ["dataset", "backbone", "variant", "output", "case"]
    return data.groupby(keys, as_index=False)[metric].mean()


def _paired_cases_figure(
    metrics: pd.DataFrame, variant: str = "morse", reference: str = "baseline"
) -> Figure:
    """Slope plot: one line per case shared by ``reference`` and ``variant``.

    x positions: reference (coarse), variant (coarse), variant (refined) where available. Each
    case line has gid ``case:<case>``; the bold mean line has gid ``mean``.
    """
    metric_names = [m for m in ("dice", "hd95_mm") if m in metrics.columns]
    facets = _facets(metrics) if len(metrics) else []
    fig = _new_figure(4.2 * max(1, len(metric_names)) + 0.5, 3.8 * max(1, len(facets)))
    axes = fig.subplots(max(1, len(facets)), max(1, len(metric_names)), squeeze=False)
    if not facets or not metric_names:
        _no_data(axes[0, 0])
        return fig
    for row, (dataset, backbone) in enumerate(facets):
        sub = metrics[(metrics["dataset"] == dataset) & (metrics["backbone"] == backbone)]
        for col, metric in enumerate(metric_names):
            ax = axes[row, col]
            means = _case_means(sub, metric)
            ref = means[(means["variant"] == reference) & (means["output"] == "coarse")]
            var = means[means["variant"] == variant]
            var_outputs = sorted(var["output"].unique(), key=lambda o: _OUTPUT_ORDER.get(o, 9))
            columns = [(reference, "coarse")] + [(variant, str(o)) for o in var_outputs]
            table = pd.concat(
                [
                    means[(means["variant"] == v) & (means["output"] == o)]
                    .set_index("case")[metric]
                    .rename(f"{v}\n{o}")
                    for v, o in columns
                ],
                axis=1,
            )
            shared = sorted(set(ref["case"].astype(str)) & set(var["case"].astype(str)))
            table.index = table.index.astype(str)
            table = table.loc[shared]
            ax.set_title(f"{dataset} / {backbone}: {_METRIC_LABELS.get(metric, metric)}")
            if table.empty or len(columns) < 2:
                _no_data(ax, f"no cases shared by {reference} and {variant}")
                continue
            x = np.arange(len(columns))
            for case, values in table.iterrows():
                y = values.to_numpy(dtype=float)
                up = y[-1] > y[0] if np.isfinite(y[[0, -1]]).all() else None
                good = up if metric == "dice" else (None if up is None else not up)
                colour = (
                    "0.6"
                    if good is None
                    else (variant_colour(variant) if good else variant_colour(reference))
                )
                ax.plot(
                    x,
                    y,
                    marker="o",
                    markersize=3,
                    linewidth=0.8,
                    alpha=0.7,
                    color=colour,
                    gid=f"case:{case}",
                )
            ax.plot(
                x,
                table.mean(axis=0).to_numpy(dtype=float),
                marker="D",
                markersize=6,
                linewidth=2.5,
                color="black",
                gid="mean",
                label="mean over cases",
            )
            ax.set_xticks(x, list(table.columns))
            ax.set_xlim(-0.3, len(columns) - 0.7)
            ax.set_ylabel(_METRIC_LABELS.get(metric, metric) + " (case mean)")
            better = "higher" if metric == "dice" else "lower"
            ax.text(
                0.01,
                0.01,
                f"n = {len(table)} cases; {better} is better; coloured by "
                f"{reference}->{variant} direction",
                transform=ax.transAxes,
                fontsize="x-small",
                color="0.3",
                va="bottom",
            )
    return fig


def plot_paired_cases(
    metrics: pd.DataFrame, out_stem: Path, variant: str = "morse", reference: str = "baseline"
) -> list[Path]:
    """Per-case slope plot from ``reference`` to ``variant`` for Dice and HD95 (mm).

    Each line is one test case shared by both variants (mean over classes and seeds, infinite
    HD95 left out); the variant's coarse and refined outputs are separate x positions.
    """
    with _style():
        fig = _paired_cases_figure(metrics, variant=variant, reference=reference)
        return _save(fig, out_stem)


# --------------------------------------------------------------------------------------------
# qualitative overlays
# --------------------------------------------------------------------------------------------
def _load_qualitative(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(Path(run_dir) / "qualitative.npz", allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


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


def _zoom_box(
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
    image = sample["image"].astype(float)
    lo, hi = np.percentile(image, [1, 99]) if image.size else (0.0, 1.0)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    label = sample["label"]
    for index in range(1, len(class_names) + 1):
        colour = _class_colour(index)
        for mask, style, lw in ((label == index, "solid", 1.4), (pred == index, "dashed", 1.0)):
            if mask.any() and not mask.all():
                ax.contour(
                    mask.astype(float),
                    levels=[0.5],
                    colors=[colour],
                    linestyles=style,
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


def _qualitative_figure(
    run_dirs: dict[str, Path], class_names: list[str]
) -> tuple[Figure, tuple[int, int, int, int] | None]:
    """Overlay grid (rows: coarse, refined; columns: variants) and the zoom box it uses."""
    samples = {name: _load_qualitative(path) for name, path in run_dirs.items()}
    variants = _variant_order(list(samples))
    fig = _new_figure(3.2 * max(1, len(variants)) + 1.5, 6.6)
    axes = fig.subplots(2, max(1, len(variants)), squeeze=False)
    if not variants:
        _no_data(axes[0, 0])
        return fig, None
    first = samples[variants[0]]
    disagreement = _disagreement(samples)
    if disagreement is None:
        disagreement = np.zeros(first["label"].shape, dtype=bool)
    box = _zoom_box(disagreement, fallback=_boundary(first["label"]))
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
    run_dirs: dict[str, Path], out_stem: Path, class_names: list[str]
) -> list[Path]:
    """Overlays per variant (key of ``run_dirs``) from each run's ``qualitative.npz``.

    Ground truth is drawn as solid contours, predictions (coarse row, refined row) as dashed
    contours, the inference points as yellow dots on the refined row, and every panel has a
    zoomed inset on the window with the most baseline-vs-morse disagreement (deterministic).
    ``class_names`` are the foreground classes, label value 1, 2, ...
    """
    with _style():
        fig, _ = _qualitative_figure(run_dirs, class_names)
        return _save(fig, out_stem)


# --------------------------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------------------------
def _run_identity(key: str, run_dir: Path) -> dict[str, str]:
    """dataset/backbone/variant/seed of a run from run.json, falling back on the key."""
    info: dict[str, object] = {}
    path = Path(run_dir) / "run.json"
    if path.exists():
        info = json.loads(path.read_text())
    return {
        "dataset": str(info.get("dataset", "")),
        "backbone": str(info.get("backbone", "")),
        "variant": str(info.get("variant", key.split("/")[0])),
        "seed": str(info.get("seed", key)),
    }


def _training_frame(run_dirs: dict[str, Path]) -> pd.DataFrame:
    frames = []
    for key, run_dir in sorted(run_dirs.items()):
        log = pd.read_csv(Path(run_dir) / "train_log.csv")
        frames.append(log.assign(**_run_identity(key, run_dir)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _training_figure(run_dirs: dict[str, Path]) -> Figure:
    """Loss (and point loss where logged) vs iteration, mean over seeds with a +-1 SD band."""
    logs = _training_frame(run_dirs)
    columns = [c for c in ("loss", "point_loss") if c in logs.columns and logs[c].notna().any()]
    facets = _facets(logs) if len(logs) else []
    fig = _new_figure(5.0 * max(1, len(columns)) + 1.5, 3.4 * max(1, len(facets)))
    axes = fig.subplots(max(1, len(facets)), max(1, len(columns)), squeeze=False)
    if not facets or not columns:
        _no_data(axes[0, 0])
        return fig
    for row, (dataset, backbone) in enumerate(facets):
        sub = logs[(logs["dataset"] == dataset) & (logs["backbone"] == backbone)]
        for col, column in enumerate(columns):
            ax = axes[row, col]
            for variant in _variant_order(sub["variant"].tolist()):
                runs = sub[sub["variant"] == variant].dropna(subset=[column])
                if runs.empty:
                    continue
                stats = runs.groupby("iteration")[column].agg(["mean", "std", "count"])
                colour = variant_colour(variant)
                n_seeds = runs["seed"].nunique()
                ax.plot(
                    stats.index,
                    stats["mean"],
                    color=colour,
                    linewidth=1.2,
                    label=f"{variant} (n={n_seeds})",
                    gid=f"variant:{variant}",
                )
                if n_seeds > 1:
                    sd = stats["std"].fillna(0.0)
                    ax.fill_between(
                        stats.index,
                        stats["mean"] - sd,
                        stats["mean"] + sd,
                        color=colour,
                        alpha=0.2,
                        linewidth=0,
                    )
            ax.set_title(f"{dataset} / {backbone}: {column.replace('_', ' ')}")
            ax.set_xlabel("iteration")
            ax.set_ylabel(column.replace("_", " "))
            if ax.lines:
                ax.legend(fontsize="small", frameon=False)
    return fig


def plot_training_curves(run_dirs: dict[str, Path], out_stem: Path) -> list[Path]:
    """Training loss vs iteration per variant: mean over seeds with a +-1 SD band.

    Keys of ``run_dirs`` label runs; variant, seed, dataset and backbone are read from each
    run's ``run.json`` (the key's part before ``/`` is the variant when there is none).
    """
    with _style():
        fig = _training_figure(run_dirs)
        return _save(fig, out_stem)


# --------------------------------------------------------------------------------------------
# ablations
# --------------------------------------------------------------------------------------------
#: Fields of the head configuration that an ablation variant ``<base>-<knob>-<value>`` may vary.
_KNOBS = tuple(sorted((f.name for f in dataclasses.fields(HeadConfig)), key=lambda n: (-len(n), n)))
#: Knobs drawn on a log2 axis (point budgets and widths, which ablations double or halve).
_LOG2_KNOBS = {"num_points", "subdivision_points", "expert_width", "fourier_features"}
_ABLATION_METRICS = ("dice", "hd95_mm")
_BOOTSTRAP_RESAMPLES = 2000


def _parse_value(text: str) -> Any:
    """Knob value from its spelling in a variant name: bool, None, int, float, else str."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_ablation(variant: str) -> tuple[str, str, Any] | None:
    """``(base, knob, value)`` of an ablation variant ``<base>-<knob>-<value>``, else None.

    ``knob`` must be a field of :class:`morse.method.HeadConfig`; the value is parsed as
    bool / int / float / None, else kept as a string (``morse-num_experts-3`` ->
    ``("morse", "num_experts", 3)``).
    """
    for knob in _KNOBS:
        marker = f"-{knob}-"
        at = variant.find(marker)
        if at > 0 and len(variant) > at + len(marker):
            return variant[:at], knob, _parse_value(variant[at + len(marker) :])
    return None


def _value_key(value: Any) -> tuple[int, Any]:
    """Sort key that keeps bools apart from numbers (False < True, then numbers, then text)."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, float(value))
    return (2, str(value))


def _value_label(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


def _base_value(runs: list[dict] | None, dataset: str, backbone: str, base: str, knob: str) -> Any:
    """The base variant's own value of ``knob`` from its run.json ``head`` dict (None if unknown)."""
    for run in runs or []:
        if (str(run.get("dataset")), str(run.get("backbone")), str(run.get("variant"))) != (
            dataset,
            backbone,
            base,
        ):
            continue
        head = run.get("head")
        if isinstance(head, dict) and head.get(knob) is not None:
            return head[knob]
    return None


def _case_level_means(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per case: foreground classes averaged per (seed, case), then seeds averaged per case."""
    data = metrics
    if "class_index" in data.columns:
        data = data[pd.to_numeric(data["class_index"], errors="coerce") >= 1]
    data = data.assign(**{metric: _finite(data[metric])})
    keys = ["dataset", "backbone", "variant", "output"]
    per_seed = data.groupby([*keys, "seed", "case"], as_index=False)[metric].mean()
    per_case = per_seed.groupby([*keys, "case"], as_index=False).agg(
        value=(metric, "mean"), n_seeds=("seed", "nunique")
    )
    return per_case.dropna(subset=["value"])


def _summary_row(
    group: pd.DataFrame | None, key: tuple[str, str, str, str], metric: str, **fields: Any
) -> dict[str, Any] | None:
    """Mean over cases with its bootstrap CI for one (dataset, backbone, variant, output)."""
    if group is None or group.empty:
        return None
    # percentile: a band for the curves, not a test; BCa is for the paired comparisons
    low, high = bootstrap_ci(group["value"].to_numpy(), _BOOTSTRAP_RESAMPLES, methods=("percentile",))
    return {
        "dataset": key[0],
        "backbone": key[1],
        "variant": key[2],
        "output": key[3],
        "metric": metric,
        "mean": float(group["value"].mean()),
        "ci_low": low,
        "ci_high": high,
        "n_cases": int(len(group)),
        "n_seeds": int(group["n_seeds"].max()),
        **fields,
    }


def ablation_summary(metrics: pd.DataFrame, runs: list[dict] | None = None) -> pd.DataFrame:
    """One row per ablation point x output x metric (Dice, HD95 mm), plus the baseline reference.

    Ablation points are the variants ``<base>-<knob>-<value>`` and, per knob, the base variant
    itself at its own value of the knob (read from its run.json ``head`` dict in ``runs``; left
    out when unknown). ``mean`` is the mean over cases of the case means (foreground classes
    averaged per seed and case, then seeds per case; infinite HD95 left out), ``ci_low`` /
    ``ci_high`` a seeded 95% percentile bootstrap CI over cases. Baseline coarse rows have
    ``knob == ""`` (``role == "reference"``). Empty frame when there is no ablation variant.
    """
    columns = [
        "dataset", "backbone", "base", "knob", "value", "value_label", "role", "variant",
        "output", "metric", "mean", "ci_low", "ci_high", "n_cases", "n_seeds",
    ]  # fmt: skip
    if metrics.empty or "variant" not in metrics.columns:
        return pd.DataFrame(columns=columns)
    variants = sorted(set(metrics["variant"].astype(str)))
    parsed = {v: parse_ablation(v) for v in variants}
    parsed = {v: p for v, p in parsed.items() if p is not None}
    if not parsed:
        return pd.DataFrame(columns=columns)
    rows: list[dict[str, Any]] = []
    for metric in [m for m in _ABLATION_METRICS if m in metrics.columns]:
        cases = _case_level_means(metrics, metric)
        groups = {k: g for k, g in cases.groupby(["dataset", "backbone", "variant", "output"])}

        def add(key: tuple[str, str, str, str], **fields: Any) -> None:
            row = _summary_row(groups.get(key), key, metric, **fields)  # noqa: B023
            if row is not None:
                rows.append(row)

        for dataset, backbone in _facets(cases) if len(cases) else []:
            here = {k[2:] for k in groups if k[:2] == (dataset, backbone)}
            points = {
                (v, o): parsed[v] for v, o in here if v in parsed
            }  # (variant, output) -> (base, knob, value)
            if not points:
                continue
            add((dataset, backbone, "baseline", "coarse"), base="", knob="", value=None,
                value_label="", role="reference")  # fmt: skip
            knobs = sorted({(b, k) for b, k, _ in points.values()})
            for (variant, output), (base, knob, value) in sorted(points.items()):
                add((dataset, backbone, variant, output), base=base, knob=knob, value=value,
                    value_label=_value_label(value), role="ablation")  # fmt: skip
            for base, knob in knobs:
                value = _base_value(runs, dataset, backbone, base, knob)
                if value is None:
                    continue
                for output in sorted(o for v, o in here if v == base):
                    add((dataset, backbone, base, output), base=base, knob=knob, value=value,
                        value_label=_value_label(value), role="base")  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    if out.empty:
        return out
    out["_v"] = out["value"].map(_value_key)
    out["_r"] = out["role"].map({"reference": 0, "base": 1, "ablation": 1})
    out["_o"] = out["output"].map(lambda o: _OUTPUT_ORDER.get(o, 9))
    out["_m"] = out["metric"].map({m: i for i, m in enumerate(_ABLATION_METRICS)})
    out = out.sort_values(
        ["dataset", "backbone", "_m", "_r", "base", "knob", "_v", "_o", "variant"], kind="stable"
    )
    return out.drop(columns=["_v", "_r", "_o", "_m"]).reset_index(drop=True)


def _ablation_points(sub: pd.DataFrame) -> pd.DataFrame:
    """Points of one panel, one per value and output; the base point is dropped where an
    ablation variant has the same value (the same configuration)."""
    points = sub[sub["role"] != "reference"].copy()
    points["_key"] = points["value"].map(_value_key)
    points["_ablation"] = points["role"] == "ablation"
    points = points.sort_values(["output", "_key", "_ablation"], kind="stable")
    points = points.drop_duplicates(subset=["output", "_key"], keep="last")
    return points.sort_values(["_key"], kind="stable")


def _ablation_figure(summary: pd.DataFrame) -> Figure:
    """Rows: dataset x backbone x metric; columns: (base, knob). One line per output.

    Line gid ``ablation:<knob>:<output>``, band gid ``band:<knob>:<output>``, baseline line gid
    ``baseline``. Categorical knobs (bool, text) are drawn at positions 0..n-1.
    """
    facets = _facets(summary)
    metric_names = [m for m in _ABLATION_METRICS if m in set(summary["metric"])]
    panels = sorted(
        {(b, k) for b, k in summary[summary["role"] != "reference"][["base", "knob"]].itertuples(
            index=False)}
    )  # fmt: skip
    several_bases = len({b for b, _ in panels}) > 1
    n_rows = max(1, len(facets) * len(metric_names))
    fig = _new_figure(4.2 * max(1, len(panels)) + 1.8, 3.2 * n_rows)
    axes = fig.subplots(n_rows, max(1, len(panels)), squeeze=False)
    for f, (dataset, backbone) in enumerate(facets):
        for m, metric in enumerate(metric_names):
            row = f * len(metric_names) + m
            rows = summary[
                (summary["dataset"] == dataset)
                & (summary["backbone"] == backbone)
                & (summary["metric"] == metric)
            ]
            reference = rows[rows["role"] == "reference"]
            for col, (base, knob) in enumerate(panels):
                ax = axes[row, col]
                label = _METRIC_LABELS.get(metric, metric)
                ax.set_title(
                    f"{dataset} / {backbone}: {knob}" + (f" ({base})" if several_bases else ""),
                    fontsize="small",
                )
                sub = _ablation_points(rows[(rows["base"] == base) & (rows["knob"] == knob)])
                if sub.empty:
                    _no_data(ax, "no ablation runs")
                    continue
                values = sorted({_value_key(v): v for v in sub["value"]}.items())
                numeric = all(k[0] == 1 for k, _ in values)
                positions = {k: (float(v) if numeric else float(i)) for i, (k, v) in
                             enumerate(values)}  # fmt: skip
                for output, line in sub.groupby("output", sort=False):
                    line = line.sort_values("_key", kind="stable")
                    x = np.array([positions[k] for k in line["_key"]])
                    colour = _output_colour(base, str(output))
                    ax.plot(x, line["mean"].to_numpy(dtype=float), marker="o", markersize=4,
                            color=colour, linewidth=1.4, label=str(output),
                            gid=f"ablation:{knob}:{output}")  # fmt: skip
                    band = line[["ci_low", "ci_high"]].to_numpy(dtype=float)
                    if np.isfinite(band).any():
                        ax.fill_between(x, band[:, 0], band[:, 1], color=colour, alpha=0.18,
                                        linewidth=0, gid=f"band:{knob}:{output}")  # fmt: skip
                    base_rows = line[line["role"] == "base"]
                    if len(base_rows):
                        bx = np.array([positions[k] for k in base_rows["_key"]])
                        ax.plot(bx, base_rows["mean"].to_numpy(dtype=float), marker="*",
                                markersize=11, linestyle="", color=colour,
                                gid=f"base:{knob}:{output}")  # fmt: skip
                if len(reference):
                    ax.axhline(float(reference["mean"].iloc[0]), color=variant_colour("baseline"),
                               linestyle="--", linewidth=1.2, label="baseline (coarse)",
                               gid="baseline")  # fmt: skip
                ticks = [positions[k] for k, _ in values]
                if numeric and knob in _LOG2_KNOBS and all(float(v) > 0 for _, v in values):
                    ax.set_xscale("log", base=2)
                if not numeric:
                    ax.set_xlim(-0.5, len(values) - 0.5)
                ax.set_xticks(ticks, [_value_label(v) for _, v in values])
                ax.minorticks_off()
                ax.set_xlabel(knob + (" (log2)" if ax.get_xscale() == "log" else ""))
                ax.set_ylabel(label + " (case mean)")
                ax.legend(fontsize="x-small", frameon=False)
    if not facets or not panels:
        _no_data(axes[0, 0])
    else:
        fig.suptitle(
            "Ablations: mean over cases with 95% bootstrap CI over cases; star = the base "
            "variant at its own value",
            fontsize="small",
        )
    return fig


def plot_ablations(
    metrics: pd.DataFrame, out_stem: Path, runs: list[dict] | None = None
) -> list[Path]:
    """One panel per ablated knob: mean Dice (top row) and HD95 mm (second row) vs knob value.

    Ablation variants are named ``<base>-<knob>-<value>`` (knob: a field of HeadConfig); the
    base variant joins each panel at its own knob value from its run.json ``head`` dict in
    ``runs``. Each point is the mean over cases of the case means (foreground classes per seed,
    then seeds), with a seeded 95% percentile bootstrap band over cases; one line per output
    (coarse / refined); the baseline's coarse mean is a dashed horizontal line. Point budgets
    use a log2 axis, booleans and text a categorical one. Facets: dataset x backbone. Returns
    ``[]`` (no figure written) when there is no ablation variant.
    """
    summary = ablation_summary(metrics, runs)
    if summary.empty or not (summary["role"] != "reference").any():
        return []
    with _style():
        fig = _ablation_figure(summary)
        return _save(fig, out_stem)


# --------------------------------------------------------------------------------------------
# errors against distance to the boundary
# --------------------------------------------------------------------------------------------
_BOUNDARY_KEYS = ["dataset", "backbone", "variant", "output"]


def boundary_error_rates(boundary: pd.DataFrame) -> pd.DataFrame:
    """Error rate per dataset x backbone x variant x output x distance bin.

    ``error_rate`` = sum(n_errors) / sum(n_voxels) pooled over cases and seeds; ``low`` /
    ``high`` = the smallest and largest per-seed rate (each pooled over cases), NaN with one
    seed; ``n_seeds``, ``n_voxels`` and ``n_errors`` alongside.
    """
    columns = [*_BOUNDARY_KEYS, "distance_mm", "error_rate", "low", "high", "n_seeds",
               "n_voxels", "n_errors"]  # fmt: skip
    if boundary.empty:
        return pd.DataFrame(columns=columns)
    data = boundary.assign(
        n_voxels=pd.to_numeric(boundary["n_voxels"], errors="coerce").fillna(0),
        n_errors=pd.to_numeric(boundary["n_errors"], errors="coerce").fillna(0),
        distance_mm=pd.to_numeric(boundary["distance_mm"], errors="coerce"),
    ).dropna(subset=["distance_mm"])
    for key in _BOUNDARY_KEYS:
        data[key] = data[key].astype(str)
    keys = [*_BOUNDARY_KEYS, "distance_mm"]
    pooled = data.groupby(keys, as_index=False)[["n_voxels", "n_errors"]].sum()
    pooled = pooled[pooled["n_voxels"] > 0]
    pooled["error_rate"] = pooled["n_errors"] / pooled["n_voxels"]
    per_seed = data.groupby([*keys, "seed"], as_index=False)[["n_voxels", "n_errors"]].sum()
    per_seed = per_seed[per_seed["n_voxels"] > 0]
    per_seed["rate"] = per_seed["n_errors"] / per_seed["n_voxels"]
    spread = per_seed.groupby(keys, as_index=False).agg(
        low=("rate", "min"), high=("rate", "max"), n_seeds=("seed", "nunique")
    )
    out = pooled.merge(spread, on=keys, how="left")
    single = out["n_seeds"] < 2
    out.loc[single, ["low", "high"]] = np.nan
    out["n_seeds"] = out["n_seeds"].astype(int)
    return out[columns].sort_values(keys, kind="stable").reset_index(drop=True)


def _boundary_figure(rates: pd.DataFrame) -> Figure:
    """One panel per dataset x backbone; line gid ``<variant>:<output>``, band gid
    ``band:<variant>:<output>``."""
    facets = _facets(rates) if len(rates) else []
    fig = _new_figure(7.5, 3.6 * max(1, len(facets)))
    axes = fig.subplots(max(1, len(facets)), 1, squeeze=False)
    if not facets:
        _no_data(axes[0, 0])
        return fig
    for row, (dataset, backbone) in enumerate(facets):
        ax = axes[row, 0]
        sub = rates[(rates["dataset"] == dataset) & (rates["backbone"] == backbone)]
        pairs = sub[["variant", "output"]].drop_duplicates()
        order = _variant_order(pairs["variant"].tolist())
        groups = sorted(
            ((str(v), str(o)) for v, o in pairs.itertuples(index=False)),
            key=lambda vo: (order.index(vo[0]), _OUTPUT_ORDER.get(vo[1], 9), vo[1]),
        )
        for variant, output in groups:
            line = sub[(sub["variant"] == variant) & (sub["output"] == output)]
            line = line.sort_values("distance_mm")
            colour = _output_colour(variant, output)
            n_seeds = int(line["n_seeds"].max())
            ax.plot(line["distance_mm"], line["error_rate"], color=colour, linewidth=1.4,
                    linestyle="-" if output == "coarse" else "--", marker=".",
                    label=f"{variant} · {output} (n={n_seeds} seeds)",
                    gid=f"{variant}:{output}")  # fmt: skip
            if line[["low", "high"]].notna().all(axis=None):
                ax.fill_between(line["distance_mm"], line["low"], line["high"], color=colour,
                                alpha=0.15, linewidth=0, gid=f"band:{variant}:{output}")  # fmt: skip
        ax.set_title(f"{dataset} / {backbone}", fontsize="small")
        ax.set_xlabel("distance to the reference boundary (mm, bin centre)")
        ax.set_ylabel("error rate (wrong voxels / voxels)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.legend(fontsize="x-small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_boundary_errors(boundary: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Error rate against distance to the true boundary, per variant x output.

    ``boundary`` is the tidy boundary table (dataset, backbone, variant, seed, output, case,
    distance_mm, n_voxels, n_errors). Each line is sum(n_errors) / sum(n_voxels) per distance
    bin pooled over cases and seeds (refined dashed, coarse solid); the band spans the per-seed
    rates (min to max). One panel per dataset x backbone.
    """
    with _style():
        fig = _boundary_figure(boundary_error_rates(boundary))
        return _save(fig, out_stem)


# --------------------------------------------------------------------------------------------
# cost against accuracy (Pareto)
# --------------------------------------------------------------------------------------------
#: Head settings named in a point's label when the variants of a panel do not all share them.
_COST_LABEL_KNOBS = ("expert_width", "fusion", "gate_resolution")
_COST_METRICS = ("dice", "hd95_mm")
_COST_COLUMNS = [
    "dataset", "backbone", "variant", "output", "label", "s_per_iteration", "n_timed_runs",
    "dice", "hd95_mm", "n_cases", "on_front",
]  # fmt: skip


def _seconds_per_iteration(
    runs: list[dict] | None,
) -> dict[tuple[str, str, str], tuple[float, int]]:
    """(dataset, backbone, variant) -> (median over runs of 1 / iterations_per_s, n runs).

    Runs without a positive, finite ``iterations_per_s`` are not timed and left out."""
    found: dict[tuple[str, str, str], list[float]] = {}
    for run in runs or []:
        try:
            rate = float(run.get("iterations_per_s"))
        except (TypeError, ValueError):
            continue
        if not np.isfinite(rate) or rate <= 0:
            continue
        key = (str(run.get("dataset")), str(run.get("backbone")), str(run.get("variant")))
        found.setdefault(key, []).append(1.0 / rate)
    return {k: (float(np.median(v)), len(v)) for k, v in found.items()}


def _cost_labels(
    runs: list[dict] | None, dataset: str, backbone: str, variants: list[str]
) -> dict[str, str]:
    """Variant -> label: its name, plus the head settings that differ between the variants."""
    heads: dict[str, dict] = {}
    for run in runs or []:
        key = (str(run.get("dataset")), str(run.get("backbone")), str(run.get("variant")))
        head = run.get("head")
        if key[:2] == (dataset, backbone) and key[2] in variants and isinstance(head, dict):
            heads.setdefault(key[2], head)
    extra: dict[str, list[str]] = {v: [] for v in variants}
    for knob in _COST_LABEL_KNOBS:
        values = {v: h[knob] for v, h in heads.items()
                  if h.get(knob) is not None and _knob_applies(h, knob)}
        if len({json.dumps(x, sort_keys=True, default=str) for x in values.values()}) > 1:
            for variant, value in values.items():
                extra[variant].append(f"{knob}={_value_label(value)}")
    return {v: v + (f" ({', '.join(extra[v])})" if extra[v] else "") for v in variants}


def _knob_applies(head: dict, knob: str) -> bool:
    """Whether a head setting shapes the run: none does for the bare backbone (``head: none``,
    whose recorded head settings are unused defaults); ``gate_resolution`` only with dense fusion."""
    if head.get("head", "implicit") == "none":
        return False
    return knob != "gate_resolution" or head.get("fusion") == "dense"


def _pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mask of the points with the best score for at most their cost (higher score better):
    no other point is at most as costly and strictly better, and ties keep the first."""
    cost, score = np.asarray(cost, dtype=float), np.asarray(score, dtype=float)
    on = np.zeros(cost.shape, dtype=bool)
    valid = np.flatnonzero(np.isfinite(cost) & np.isfinite(score))
    order = valid[np.lexsort((-score[valid], cost[valid]))]  # cheapest first, best first
    best = -np.inf
    for i in order:
        if score[i] > best:
            on[i] = True
            best = score[i]
    return on


def cost_accuracy_summary(metrics: pd.DataFrame, runs: list[dict] | None) -> pd.DataFrame:
    """One row per dataset x backbone x timed variant x output: what the cost figure draws.

    ``s_per_iteration``: median over the variant's runs (seeds) of 1 / ``iterations_per_s``
    from run.json; ``dice`` / ``hd95_mm``: mean over cases of the case means (foreground
    classes per seed and case, then seeds; infinite HD95 left out), as in the ablation figure;
    ``on_front``: on the Dice Pareto front of its dataset x backbone (best Dice for at most
    that cost). The baseline contributes its coarse output only. Facets with fewer than two
    timed variants that have metrics are left out.
    """
    if metrics.empty or "variant" not in metrics.columns:
        return pd.DataFrame(columns=_COST_COLUMNS)
    timings = _seconds_per_iteration(runs)
    means = {}
    for metric in [m for m in _COST_METRICS if m in metrics.columns]:
        cases = _case_level_means(metrics, metric)
        keys = ["dataset", "backbone", "variant", "output"]
        means[metric] = cases.groupby(keys)["value"].agg(["mean", "count"])
    rows = []
    pairs = metrics[["dataset", "backbone", "variant", "output"]].astype(str).drop_duplicates()
    for (dataset, backbone), sub in pairs.groupby(["dataset", "backbone"], sort=True):
        timed = [v for v in sub["variant"].unique() if (dataset, backbone, v) in timings]
        if len(timed) < 2:
            continue
        labels = _cost_labels(runs, dataset, backbone, timed)
        for variant, output in sub[["variant", "output"]].itertuples(index=False):
            if variant not in timed or (variant == "baseline" and output != "coarse"):
                continue
            seconds, n_runs = timings[(dataset, backbone, variant)]
            row = {"dataset": dataset, "backbone": backbone, "variant": variant,
                   "output": output, "label": labels[variant], "s_per_iteration": seconds,
                   "n_timed_runs": n_runs}  # fmt: skip
            n_cases = 0
            for metric in _COST_METRICS:
                table = means.get(metric)
                key = (dataset, backbone, variant, output)
                found = table is not None and key in table.index
                row[metric] = float(table.loc[key, "mean"]) if found else float("nan")
                if found:
                    n_cases = max(n_cases, int(table.loc[key, "count"]))
            row["n_cases"] = n_cases
            rows.append(row)
    out = pd.DataFrame(rows, columns=[c for c in _COST_COLUMNS if c != "on_front"])
    if out.empty:
        return pd.DataFrame(columns=_COST_COLUMNS)
    order = _variant_order(out["variant"].tolist())
    out["_v"] = out["variant"].map(order.index)
    out["_o"] = out["output"].map(lambda o: _OUTPUT_ORDER.get(o, 9))
    out = out.sort_values(["dataset", "backbone", "_v", "_o", "output"], kind="stable")
    out = out.drop(columns=["_v", "_o"]).reset_index(drop=True)
    out["on_front"] = False
    for _, index in out.groupby(["dataset", "backbone"]).groups.items():
        sub = out.loc[index]
        front = _pareto_front(sub["s_per_iteration"].to_numpy(), sub["dice"].to_numpy())
        out.loc[index, "on_front"] = front
    out["on_front"] = out["on_front"].astype(bool)
    return out[_COST_COLUMNS]


def _cost_figure(summary: pd.DataFrame) -> Figure:
    """Columns: dataset x backbone; rows: Dice, HD95 (mm). Marker gid
    ``point:<variant>:<output>`` (x = s/iteration, y = the mean), Dice front gid ``pareto``."""
    facets = _facets(summary)
    fig = _new_figure(6.4 * max(1, len(facets)), 8.0)
    axes = fig.subplots(len(_COST_METRICS), max(1, len(facets)), squeeze=False)
    for col, (dataset, backbone) in enumerate(facets):
        sub = summary[(summary["dataset"] == dataset) & (summary["backbone"] == backbone)]
        for row, metric in enumerate(_COST_METRICS):
            ax = axes[row, col]
            label = _METRIC_LABELS.get(metric, metric)
            ax.set_title(f"{dataset} / {backbone}: {label}", fontsize="small")
            points = sub.dropna(subset=["s_per_iteration", metric])
            if points.empty:
                _no_data(ax)
                continue
            for r in points.itertuples(index=False):
                x, y = float(r.s_per_iteration), float(getattr(r, metric))
                ax.plot([x], [y], linestyle="", marker="o" if r.output == "coarse" else "D",
                        markersize=7, color=_output_colour(r.variant, r.output),
                        markeredgecolor="black" if r.on_front else "white",
                        gid=f"point:{r.variant}:{r.output}")  # fmt: skip
                ax.annotate(f"{r.label} · {r.output}", (x, y), xytext=(5, 4),
                            textcoords="offset points", fontsize="x-small")  # fmt: skip
            if metric == "dice":
                front = points[points["on_front"]].sort_values("s_per_iteration")
                if len(front):
                    fx = front["s_per_iteration"].to_numpy(dtype=float)
                    fy = front["dice"].to_numpy(dtype=float)
                    right = float(points["s_per_iteration"].max())
                    if right > fx[-1]:
                        fx, fy = np.append(fx, right), np.append(fy, fy[-1])
                    ax.step(fx, fy, where="post", color="0.3", linestyle="--", linewidth=1.0,
                            label="Pareto front (best Dice at most this cost)",
                            gid="pareto")  # fmt: skip
                    ax.legend(fontsize="x-small", frameon=False, loc="lower right")
            ax.set_xscale("log")
            ax.set_xlabel("training seconds per iteration (median over seeds, log)")
            ax.set_ylabel(label + " (mean of case means)")
            ax.margins(x=0.25, y=0.15)
    if not facets:
        _no_data(axes[0, 0])
    return fig


def plot_cost_accuracy(metrics: pd.DataFrame, runs: list[dict], out_stem: Path) -> list[Path]:
    """Accuracy against training cost, one column per dataset x backbone.

    x: training seconds per iteration, the median over the variant's seeds of
    1 / ``iterations_per_s`` from run.json (log axis); y: mean Dice (top) and mean HD95 mm
    (bottom) over cases of the case means (as in the ablation figure). One marker per
    variant x output (the baseline's coarse output only), labelled with the variant and the
    head settings (expert_width, fusion, gate_resolution) that differ between the variants;
    the Dice Pareto front (best Dice for at most that cost) is a dashed step line and its
    points have a black edge. Returns ``[]`` (nothing written) when no dataset x backbone has
    at least two timed variants; see :func:`cost_accuracy_summary` for the numbers.
    """
    summary = cost_accuracy_summary(metrics, runs)
    if summary.empty:
        return []
    with _style():
        fig = _cost_figure(summary)
        return _save(fig, out_stem)
