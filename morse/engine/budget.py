"""The snapshots of a run on the test split: budget_metrics.csv, the metrics at each training budget.

Each snapshot that ``run.json`` lists (``snapshots``: iteration, total iteration, file) is loaded
and scored on the test cases with exactly the evaluate step's prediction and metric code
(:mod:`morse.engine.evaluate`), both outputs for head variants; the boundary profile,
refinement counts and qualitative slice are skipped. The rows are metrics.csv's plus
``iteration`` and ``total_iteration``; the final snapshot holds the weights of model.pt, so its
block equals the run's metrics.csv. Descriptive only: nothing is chosen on these numbers.
A run without snapshots (trained before they were written) gets a header and no rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from morse.common import atomic_path, remove_stale_temporaries
from morse.data.prepared.format import mask_outside_fov
from morse.engine.evaluate import (
    METRICS_CSV_COLUMNS,
    inference_batch,
    load_model,
    metric_rows,
    metrics_frame,
    open_run,
    predict_case,
    scored_case,
)

BUDGET_COLUMNS = [*METRICS_CSV_COLUMNS, "iteration", "total_iteration"]

__all__ = ["BUDGET_COLUMNS", "evaluate_budget"]


def evaluate_budget(run_dir: Path, data_root: Path, threads: int = 1, progress: bool = True,
                    settings: dict[str, Any] | None = None) -> pd.DataFrame:
    """Score every snapshot run.json lists on the test split; write ``run_dir/budget_metrics.csv``
    (atomically) and return it. A listed snapshot file that is missing is an error naming it."""
    run_dir, data_root = Path(run_dir), Path(data_root)
    remove_stale_temporaries(run_dir / "budget_metrics.csv")  # of an earlier, killed attempt
    torch.set_num_threads(threads)
    run, info, cases = open_run(run_dir, data_root, "test", settings)
    snapshots = run.get("snapshots") or []
    missing = [s["file"] for s in snapshots if not (run_dir / s["file"]).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: snapshot {missing[0]} listed in run.json is missing; "
                                "retrain the run (snakemake --forcerun train) to write its snapshots again")
    batch = inference_batch(run, settings)
    rows: list[dict[str, Any]] = []
    for snapshot in tqdm(snapshots, desc=f"budget {run_dir.name}", disable=not progress):
        model, device = load_model(run, info, run_dir / snapshot["file"])
        at = {"iteration": int(snapshot["iteration"]), "total_iteration": int(snapshot["total_iteration"])}
        for case in cases:
            image, label, fov = scored_case(data_root, case)
            predictions = predict_case(model, run, image, device, batch)
            mask_outside_fov(fov, label, predictions)
            for output, prediction in predictions.items():
                rows.extend({**row, **at} for row in metric_rows(run, info, case, output, prediction, label))
    frame = metrics_frame(rows, BUDGET_COLUMNS)
    with atomic_path(run_dir / "budget_metrics.csv") as tmp:
        frame.to_csv(tmp, index=False)
    return frame
