"""Shared figure machinery: styling, deterministic writing, facets, colours of outputs.

Figures are :class:`matplotlib.figure.Figure` objects with the Agg canvas attached explicitly
(no pyplot, no global backend switch, no display needed), styled with seaborn contexts that are
restored afterwards, and written deterministically (fixed jitter seed, fixed SVG hash salt, no
dates in the metadata), so the same inputs give the same bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from morse.analysis.vocabulary import output_rank, variant_colour, variant_rank
from morse.common import atomic_path

__all__ = ["arms", "facet_grid", "facets", "grid", "new_figure", "no_data", "output_colour", "save", "seeded", "style"]

_RC = {"svg.hashsalt": "morse-bench", "svg.fonttype": "path", "figure.dpi": 100}


def output_colour(variant: str, output: str) -> str:
    """Variant colour; the refined output is a darker shade of the same colour."""
    rgb = np.array(to_rgb(variant_colour(variant)))
    if output == "refined":
        rgb = rgb * 0.6
    return to_hex(tuple(rgb))


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Seaborn styling plus deterministic SVG output, restored on exit."""
    with (
        matplotlib.rc_context(_RC),
        sns.axes_style("whitegrid"),
        sns.plotting_context("notebook", font_scale=0.9),
    ):
        yield


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Fix numpy's global RNG (seaborn's strip jitter uses it) and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure on its own Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def grid(rows: int, cols: int, cell_width: float, cell_height: float,
         extra_width: float = 0.0) -> tuple[Figure, np.ndarray]:  # fmt: skip
    """A figure of ``rows`` x ``cols`` panels (at least one) sized per panel; axes as a 2D array."""
    rows, cols = max(1, rows), max(1, cols)
    fig = new_figure(cell_width * cols + extra_width, cell_height * rows)
    return fig, fig.subplots(rows, cols, squeeze=False)


def save(fig: Figure, out_stem: Path) -> list[Path]:
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


def facets(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Sorted (dataset, backbone) pairs present in a frame."""
    if frame.empty:
        return []
    pairs = frame[["dataset", "backbone"]].drop_duplicates().itertuples(index=False)
    return sorted((str(d), str(b)) for d, b in pairs)


def facet_grid(
    frame: pd.DataFrame, cols: int, cell_width: float, cell_height: float,
    extra_width: float = 0.0, rows_per_facet: int = 1,
) -> tuple[list[tuple[str, str]], Figure, np.ndarray]:
    """(dataset, backbone) facets of ``frame`` and a :func:`grid` with ``rows_per_facet`` rows
    per facet and ``cols`` columns. Without facets or columns the facet list is empty and the
    single panel is marked "no data": the caller returns the figure."""
    panels = facets(frame) if cols else []
    fig, axes = grid(len(panels) * rows_per_facet, cols, cell_width, cell_height, extra_width)
    if not panels:
        no_data(axes[0, 0])
    return panels, fig, axes


def arms(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Distinct (variant, output) pairs of a frame in display order."""
    pairs = frame[["variant", "output"]].drop_duplicates().itertuples(index=False)
    return sorted(((str(v), str(o)) for v, o in pairs),
                  key=lambda vo: (variant_rank(vo[0]), output_rank(vo[1]), vo[1]))  # fmt: skip


def no_data(ax: Axes, text: str = "no data") -> None:
    """Mark an empty panel."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
