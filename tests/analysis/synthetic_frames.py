"""Synthetic tidy metric tables for the analysis tests (the layout of results/<exp>/metrics.csv)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from morse.analysis.inputs.runs import Run

# scores(variant, output, seed, case_position, class_index) -> the metric columns of one row
Scores = Callable[[str, str, int, int, int], Mapping[str, Any]]


def metric_frame(
    arms: Mapping[str, Sequence[str]],
    scores: Scores,
    *,
    classes: Mapping[str, int],
    seeds: Iterable[int] = (0,),
    cases: Sequence[str] = ("c1", "c2"),
    dataset: str = "phantom2d",
    backbone: str = "unet",
) -> pd.DataFrame:
    """One row per variant x seed x output x case x class (in that nesting, class innermost, so a
    random ``scores`` draws in a fixed order); ``arms`` maps each variant to its scored outputs."""
    rows = [
        {
            "dataset": dataset, "backbone": backbone, "variant": variant, "seed": seed,
            "output": output, "case": case, "class": name, "class_index": index,
            **scores(variant, output, seed, position, index),
        }
        for variant, outputs in arms.items()
        for seed in seeds
        for output in outputs
        for position, case in enumerate(cases)
        for name, index in classes.items()
    ]
    return pd.DataFrame(rows)


def numbered(names: Iterable[str]) -> dict[str, int]:
    """Class names -> label indices 1, 2, ... (0 is background)."""
    return {name: index for index, name in enumerate(names, start=1)}


def make_runs(records: Iterable[Mapping[str, Any]], root: Path | None = None) -> list[Run]:
    """Run records from run.json-like dicts (folder ``root/<dataset>/<backbone>/<variant>/seed<k>``)."""
    root = Path(root or ".")
    return [
        Run(dataset=str(r["dataset"]), backbone=str(r["backbone"]), variant=str(r["variant"]),
            seed=int(r.get("seed", 0)), info=dict(r),
            folder=root / str(r["dataset"]) / str(r["backbone"]) / str(r["variant"]) / f"seed{r.get('seed', 0)}")
        for r in records
    ]  # fmt: skip
