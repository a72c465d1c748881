"""Tables of what ran: head and training settings, runtime, package versions, distinct values."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from morse.analysis.inputs.runs import Run
from morse.analysis.report.format import fmt, is_missing
from morse.analysis.vocabulary import PRETRAIN
from morse.common import MACHINE_KEYS, machine_groups

__all__ = ["config_table", "distinct", "head_table", "label_names", "machines", "preparation_lines",
           "runtime_table", "versions_table"]  # fmt: skip


def config_table(runs: Sequence[Run], field: str) -> pd.DataFrame:
    """Distinct ``run.json[field]`` dicts per dataset/backbone/variant."""
    rows, seen = [], set()
    for run in runs:
        value = run.info.get(field)
        if not isinstance(value, dict):
            value = {field: value}
        row = {"dataset": run.dataset, "backbone": run.backbone, "variant": run.variant,
               **{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in value.items()}}  # fmt: skip
        marker = json.dumps(row, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            rows.append(row)
    table = pd.DataFrame(rows)
    first = ["dataset", "backbone", "variant", "head_type", "fusion", "expert_width", "num_points"]
    ordered = [c for c in first if c in table.columns]
    return table[ordered + [c for c in table.columns if c not in ordered]] if len(table) else table


def head_table(runs: Sequence[Run]) -> pd.DataFrame:
    """The head settings per variant; a bare backbone (``head_type: none``) shows "–" for the
    settings it records but does not use."""
    table = config_table(runs, "head")
    if "head_type" in table.columns:
        knobs = [c for c in table.columns if c not in ("dataset", "backbone", "variant", "head_type")]
        table[knobs] = table[knobs].astype(object)
        table.loc[table["head_type"] == "none", knobs] = "–"
    return table


def runtime_table(runs: Sequence[Run], pretrain: Sequence[Run] = ()) -> pd.DataFrame:
    """Wall time per run; the backbone pretraining runs (first stage) are listed as
    ``pretrain`` before the variants of their dataset and backbone."""
    rows = []
    for run in sorted([*pretrain, *runs], key=lambda r: (r.dataset, r.backbone, not r.is_pretrain)):
        wall = run.info.get("wall_time_s")
        rows.append({
            "dataset": run.dataset,
            "backbone": run.backbone,
            "stage": "pretrain (backbone alone)" if run.is_pretrain else "variant",
            "variant": PRETRAIN if run.is_pretrain else run.variant,
            "seed": run.seed,
            "device": run.info.get("device", "n/a"),
            "iterations": run.train.get("iterations", "n/a"),
            "wall time (s)": fmt(wall, 1),
            "wall time (min)": fmt(None if is_missing(wall) else float(wall) / 60.0, 2),
            "it/s": fmt(run.info.get("iterations_per_s"), 2),
        })  # fmt: skip
    return pd.DataFrame(rows)


def versions_table(runs: Sequence[Run]) -> pd.DataFrame:
    """Package versions over the runs, and whether every run used the same."""
    found: dict[str, set[str]] = {}
    for run in runs:
        for name, version in (run.info.get("versions") or {}).items():
            found.setdefault(str(name), set()).add(str(version))
    return pd.DataFrame([
        {"package": name, "version(s)": ", ".join(sorted(v)), "consistent": len(v) == 1}
        for name, v in sorted(found.items())
    ])  # fmt: skip


def distinct(runs: Sequence[Run], field: str) -> list[str]:
    """The distinct values of a run.json field over the runs, as sorted text."""
    values = {
        json.dumps(r.info.get(field), sort_keys=True, default=str)
        if isinstance(r.info.get(field), dict | list) else str(r.info.get(field))
        for r in runs if r.info.get(field) is not None
    }  # fmt: skip
    return sorted(values)


def label_names(metrics: pd.DataFrame) -> list[str]:
    """Names of label values 1..max(class_index) (region rows, index -1, are not labels)."""
    labels = metrics[metrics["class_index"] >= 1][["class_index", "class"]].drop_duplicates()
    by_index = {int(i): str(c) for i, c in labels.itertuples(index=False)}
    return [by_index.get(i, f"label {i}") for i in range(1, max(by_index, default=0) + 1)]


_MACHINE_LABELS = {"cpu_model": "CPU model", "cpu_capability": "vector instructions", "blas": "BLAS"}


def machines(runs: Sequence[Run]) -> dict[str, object]:
    """The machines the runs ran on (grouped by CPU model, vector instruction set, BLAS, torch and
    device): ``different`` (more than one), a ``sentence`` and a table with one row per machine."""
    groups = machine_groups([run.info for run in runs])
    table = pd.DataFrame([
        {**dict(zip([_MACHINE_LABELS.get(k, k) for k in (*MACHINE_KEYS, "device")], key, strict=True)),
         "runs": len(names),
         "which": ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")}
        for key, names in sorted(groups.items())
    ])  # fmt: skip
    if len(groups) > 1:
        sentence = (f"These runs come from {len(groups)} different machines (CPU model, vector "
                    "instruction set, BLAS or torch differ): they take different floating-point "
                    "kernel paths, so their numbers agree only to a tolerance, not bit for bit.")  # fmt: skip
    else:
        sentence = "All runs come from one machine (same CPU model, vector instruction set, BLAS and torch)."
    return {"different": len(groups) > 1, "sentence": sentence, "html": table}


def preparation_lines(runs: Sequence[Run]) -> list[dict[str, str]]:
    """Per dataset, what prepare did (intensity, spacing, slice axis, size) as the runs' ``data``
    records state it; datasets whose records carry no ``preparation`` are left out."""
    found: dict[str, set[str]] = {}
    for run in runs:
        prep = (run.info.get("data") or {}).get("preparation") or {}
        parts = [f"intensity: {prep['intensity_text']}" if prep.get("intensity_text") else "",
                 f"spacing: {prep['spacing']}" if prep.get("spacing") else "",
                 f"slice axis: {prep['slice_axis']}" if prep.get("slice_axis") else "",
                 f"resized to {prep['size']}" if prep.get("size") else ""]  # fmt: skip
        text = "; ".join(p for p in parts if p)
        if text:
            found.setdefault(run.dataset, set()).add(text)
    return [{"dataset": d, "text": " | ".join(sorted(t))} for d, t in sorted(found.items())]
