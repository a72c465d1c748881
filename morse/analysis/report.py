"""The self-contained HTML report of one experiment.

:func:`build_report` reads the tidy tables of ``results/<experiment>/`` (metrics, summary,
comparisons, empty-mask counts; ``boundary.csv`` when present) and the run folders below it
(``<dataset>/<backbone>/pretrain/seed<k>`` is the backbone pretraining stage, not a variant),
draws the figures, and renders ``templates/report.html.j2`` into ONE HTML file: figures embedded as base64 PNG, no external CSS or
JavaScript, every text escaped (tables by pandas, everything else by jinja2 autoescape), written to
a temporary file and renamed when complete.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from morse.analysis import figures as _figures
from morse.analysis import stats as _stats
from morse.data.atomic import atomic_path

__all__ = ["build_report"]

TEMPLATE_DIR = Path(__file__).with_name("templates")
TEMPLATE_NAME = "report.html.j2"
#: Published numbers shipped with the repository (used when ``reference_results`` is None).
DEFAULT_REFERENCE_RESULTS = Path(__file__).resolve().parents[2] / "config" / "reference_results.csv"
NOT_AVAILABLE = "not available"
PHANTOM_WARNING = "phantom data: validates the pipeline, not the paper's claim"

_VERDICT_METRICS = ("dice", "hd95_mm")
_METRIC_LABELS = {
    "dice": "Dice",
    "hd95_mm": "HD95 (mm)",
    "hd95_vox": "HD95 (voxels)",
    "asd_vox": "ASD (voxels)",
}
_OUTPUT_LABELS = {
    "coarse": "coarse (backbone logits; what the authors' 2D test scripts score)",
    "refined": "refined (point-rendered logits)",
}
_REQUIRED_TABLES = ("metrics", "summary", "comparisons", "empty_counts")


# --------------------------------------------------------------------------------------------
# small formatting helpers
# --------------------------------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _digits(metric: str) -> int:
    """Decimals used for a metric: 3 for overlap scores, 2 for distances."""
    return 3 if metric.startswith("dice") else 2


def _fmt(value: Any, digits: int = 3, signed: bool = False) -> str:
    """Number with fixed decimals; ``n/a`` for missing, ``inf`` kept readable."""
    if _is_missing(value):
        return "n/a"
    value = float(value)
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _fmt_p(value: Any) -> str:
    """p-value with three decimals, ``<0.001`` below that."""
    if _is_missing(value):
        return "n/a"
    value = float(value)
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _fmt_ci(diff: Any, low: Any, high: Any, digits: int) -> str:
    """``+0.012 [-0.003, +0.027]``."""
    return (
        f"{_fmt(diff, digits, signed=True)} "
        f"[{_fmt(low, digits, signed=True)}, {_fmt(high, digits, signed=True)}]"
    )


def _html_table(frame: pd.DataFrame, index: bool = False) -> str:
    """Escaped HTML table (pandas escapes cells and labels)."""
    return frame.to_html(index=index, escape=True, na_rep="n/a", border=0, classes=["data"])


def _normalise_name(name: Any) -> str:
    """Case-, order- and separator-insensitive key: 'left kidney' == 'Kidney_Left'."""
    tokens = re.split(r"[\s_\-]+", str(name).strip().lower())
    return " ".join(sorted(t for t in tokens if t))


def _variant_rank(variant: str) -> tuple[int, str]:
    order = list(_figures._KNOWN_VARIANTS)
    return (order.index(variant) if variant in order else len(order), variant)


def _output_rank(output: str) -> int:
    return {"coarse": 0, "refined": 1}.get(output, 2)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
_TABLE_COLUMNS = {
    "metrics": [
        "dataset", "backbone", "variant", "seed", "output", "case", "class", "class_index",
        "dice", "hd95_mm", "hd95_vox", "dice_authors", "hd95_vox_authors", "empty_reference",
        "empty_prediction",
    ],
    "summary": [
        "dataset", "backbone", "variant", "output", "class", "metric", "mean", "std", "n_seeds",
        "n_cases",
    ],
    "comparisons": [
        "dataset", "backbone", "metric", "variant", "output", "reference_variant",
        "reference_output", "comparison", "n_cases", "n_seeds", "mean_reference", "mean_variant",
        "mean_difference", "ci_low", "ci_high", "p_value", "p_holm", "effect_size",
        "effect_size_name", "seed_sd", "better",
    ],
    "empty_counts": [
        "dataset", "backbone", "variant", "output", "class", "empty_reference",
        "empty_prediction", "both_empty",
    ],
}  # fmt: skip


def _read_tables(results_dir: Path) -> dict[str, pd.DataFrame]:
    """The four input tables; a missing file is an error, an empty one a frame with no rows."""
    tables = {}
    for name in _REQUIRED_TABLES:
        path = results_dir / f"{name}.csv"
        if not path.exists():
            raise FileNotFoundError(f"report input missing: {path}")
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
        missing = [c for c in _TABLE_COLUMNS[name] if c not in frame.columns]
        if missing and len(frame):
            raise ValueError(f"{path}: missing columns {missing}")
        tables[name] = frame.reindex(columns=[*frame.columns, *missing])
    return tables


PRETRAIN = "pretrain"


def _run_sort_key(r: dict[str, Any]) -> tuple:
    return (
        str(r["dataset"]),
        str(r["backbone"]),
        _variant_rank(str(r["variant"])),
        int(r["seed"]) if str(r["seed"]).lstrip("-").isdigit() else 0,
        str(r["seed"]),
    )


def _read_run_folders(results_dir: Path) -> list[dict[str, Any]]:
    runs = []
    for path in sorted(results_dir.glob("*/*/*/seed*/run.json")):
        info = json.loads(path.read_text())
        info["_dir"] = path.parent
        info["_folder"] = path.parents[1].name
        info.setdefault("dataset", path.parents[3].name)
        info.setdefault("backbone", path.parents[2].name)
        info.setdefault("variant", path.parents[1].name)
        info.setdefault("seed", path.parent.name.removeprefix("seed"))
        runs.append(info)
    return runs


def _is_pretrain(run: dict[str, Any]) -> bool:
    return run.get("_folder") == PRETRAIN or str(run.get("variant")) == PRETRAIN


def _load_runs(results_dir: Path) -> list[dict[str, Any]]:
    """run.json of every variant run ``<dataset>/<backbone>/<variant>/seed<k>``, sorted.

    Folders named ``pretrain`` hold the first stage of the two-stage protocol (the backbone
    trained alone), not a variant: they are left out here (see :func:`_load_pretrain_runs`).
    """
    runs = [r for r in _read_run_folders(results_dir) if not _is_pretrain(r)]
    return sorted(runs, key=_run_sort_key)


def _load_pretrain_runs(results_dir: Path) -> list[dict[str, Any]]:
    """run.json of the backbone pretraining runs ``<dataset>/<backbone>/pretrain/seed<k>``."""
    runs = [r for r in _read_run_folders(results_dir) if _is_pretrain(r)]
    for run in runs:
        run["variant"] = PRETRAIN
    return sorted(runs, key=_run_sort_key)


def _iterations(run: dict[str, Any]) -> int | None:
    train = run.get("train")
    value = train.get("iterations") if isinstance(train, dict) else None
    try:
        return None if _is_missing(value) else int(value)
    except (TypeError, ValueError):
        return None


def _join_counts(values: Iterable[int | None]) -> str:
    found = sorted({v for v in values if v is not None})
    return " / ".join(str(v) for v in found) if found else "an unrecorded number of"


def _protocol_lines(runs: list[dict[str, Any]], pretrain: list[dict[str, Any]]) -> list[str]:
    """Plain statement of the training protocol per dataset x backbone (identical ones merged).

    two_stage: "two-stage: backbone pretrained N iterations, then each variant M more";
    single_stage: "single-stage: ...". N is read from the pretrain runs' ``train.iterations``.
    """
    pairs = sorted({(str(r["dataset"]), str(r["backbone"])) for r in [*runs, *pretrain]})
    by_text: dict[str, list[str]] = {}
    for dataset, backbone in pairs:
        here = [r for r in runs if (str(r["dataset"]), str(r["backbone"])) == (dataset, backbone)]
        first = [
            r for r in pretrain if (str(r["dataset"]), str(r["backbone"])) == (dataset, backbone)
        ]
        protocols = sorted({str(r.get("protocol")) for r in here if r.get("protocol")})
        m = _join_counts(_iterations(r) for r in here)
        texts = []
        for protocol in protocols or ["two_stage" if first else ""]:
            key = protocol.replace("-", "_").lower()
            if key == "two_stage":
                if first:
                    n = _join_counts(_iterations(r) for r in first)
                    texts.append(
                        f"two-stage: backbone pretrained {n} iterations, then each variant {m} more"
                    )
                else:
                    texts.append(
                        "two-stage: backbone pretrained (pretraining run not found), then each "
                        f"variant {m} more iterations"
                    )
            elif key == "single_stage":
                texts.append(
                    f"single-stage: backbone and head trained together for {m} iterations, "
                    "no separate pretraining"
                )
            elif protocol:
                texts.append(f"protocol {protocol}: each variant {m} iterations")
            else:
                texts.append(f"protocol not recorded: each variant {m} iterations")
        by_text.setdefault("; ".join(texts), []).append(f"{dataset} / {backbone}")
    if len(by_text) == 1:
        return list(by_text)
    return [f"{', '.join(where)}: {text}" for text, where in by_text.items()]


def _read_references(path: Path | None) -> pd.DataFrame:
    columns = [
        "dataset",
        "backbone",
        "variant",
        "output",
        "class",
        "metric",
        "value",
        "unit",
        "source",
        "table",
        "note",
    ]
    if path is None:
        path = DEFAULT_REFERENCE_RESULTS if DEFAULT_REFERENCE_RESULTS.exists() else None
    if path is None:
        return pd.DataFrame(columns=columns)
    refs = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(columns) - set(refs.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    refs["value"] = pd.to_numeric(refs["value"], errors="coerce")
    return refs


def _contains_phantom(value: Any) -> bool:
    if isinstance(value, str):
        return "phantom" in value.lower()
    if isinstance(value, dict):
        return any(_contains_phantom(k) or _contains_phantom(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_phantom(v) for v in value)
    return False


def _phantom_datasets(
    datasets: Iterable[str], runs: list[dict[str, Any]], config: dict | None
) -> list[str]:
    """Datasets that are generated phantoms (by name, run.json data/protocol, or config)."""
    config_datasets = (config or {}).get("datasets", {})
    found = []
    for dataset in datasets:
        evidence = [dataset]
        if isinstance(config_datasets, dict):
            evidence.append(config_datasets.get(dataset))
        elif isinstance(config_datasets, list):
            evidence += [
                d for d in config_datasets if isinstance(d, dict) and d.get("name") == dataset
            ]
        for run in runs:
            if str(run.get("dataset")) == dataset:
                evidence += [run.get("data"), run.get("dataset_info"), run.get("protocol")]
        if any(_contains_phantom(e) for e in evidence):
            found.append(dataset)
    return found


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def _verdict_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Verdict table ("Does MORSE help?"): difference with 95% CI, Holm-corrected p, and which side is better."""
    rows = comparisons[comparisons["metric"].isin(_VERDICT_METRICS)].copy()
    if rows.empty:
        return pd.DataFrame()
    rows["_m"] = rows["metric"].map({m: i for i, m in enumerate(_VERDICT_METRICS)})
    rows["_v"] = rows["variant"].astype(str).map(_variant_rank)
    rows["_o"] = rows["output"].astype(str).map(_output_rank)
    rows = rows.sort_values(["dataset", "backbone", "_m", "_v", "_o", "reference_variant"])
    out = []
    for r in rows.itertuples(index=False):
        metric = str(r.metric)
        k = _digits(metric)
        better = {"variant": str(r.variant), "reference": str(r.reference_variant)}.get(
            str(r.better), str(r.better)
        )
        out.append(
            {
                "dataset": r.dataset,
                "backbone": r.backbone,
                "metric": _METRIC_LABELS.get(metric, metric)
                + (" (higher is better)" if metric == "dice" else " (lower is better)"),
                "variant": r.variant,
                "scored output": _OUTPUT_LABELS.get(str(r.output), str(r.output)),
                "vs": f"{r.reference_variant} ({r.reference_output})",
                "cases × seeds": f"{r.n_cases} × {r.n_seeds}",
                "reference mean": _fmt(r.mean_reference, k),
                "variant mean": _fmt(r.mean_variant, k),
                "difference [95% CI]": _fmt_ci(r.mean_difference, r.ci_low, r.ci_high, k),
                "p (Holm)": _fmt_p(r.p_holm),
                "effect size": f"{_fmt(r.effect_size, 2)} ({r.effect_size_name})",
                "seed SD": _fmt(r.seed_sd, k),
                "better": better,
            }
        )
    return pd.DataFrame(out)


def _verdict_sentences(comparisons: pd.DataFrame) -> list[str]:
    """One plain sentence per MORSE-vs-baseline comparison group."""
    rows = comparisons[
        comparisons["metric"].isin(_VERDICT_METRICS)
        & comparisons["variant"].astype(str).str.startswith("morse")
        & (comparisons["reference_variant"].astype(str) == "baseline")
    ]
    sentences = []
    keys = ["dataset", "backbone", "variant", "output"]
    for (dataset, backbone, variant, output), group in rows.groupby(keys, sort=True):
        parts = []
        for r in group.sort_values("metric").itertuples(index=False):
            k = _digits(str(r.metric))
            verdict = {
                "variant": f"{variant} better",
                "reference": "baseline better",
            }.get(str(r.better), "no difference")
            parts.append(
                f"{_METRIC_LABELS.get(str(r.metric), r.metric)}: {verdict} "
                f"({_fmt_ci(r.mean_difference, r.ci_low, r.ci_high, k)}, "
                f"p_holm {_fmt_p(r.p_holm)})"
            )
        sentences.append(
            f"{dataset} / {backbone}, {variant} [{output}] vs baseline: " + "; ".join(parts)
        )
    return sentences


_VARIANT_DISPLAY = {
    "morse": "MORSE",
    "morse_deterministic": "MORSE (deterministic gating)",
    "pointrend": "PointRend",
    "implicit_pointrend": "Implicit PointRend",
}


def _display(variant: str) -> str:
    return _VARIANT_DISPLAY.get(variant, variant)


def _significance(p_holm: Any) -> str:
    """Wording of a Holm-adjusted p-value at alpha 0.05 (never 'significant' at p >= 0.05)."""
    if _is_missing(p_holm) or not math.isfinite(float(p_holm)):
        return "p_holm n/a: not tested"
    level = f"{_stats.ALPHA:g}"
    if float(p_holm) < _stats.ALPHA:
        return f"p_holm {_fmt_p(p_holm)}: significant at {level}"
    return f"p_holm {_fmt_p(p_holm)}: not significant at {level}"


def _gain_clause(row: Any, kind: str, variant: str) -> str:
    """One clause of the gain sentence, worded from the difference, its CI and p_holm only."""
    metric = str(row.metric)
    k = _digits(metric)
    unit = "Dice" if metric == "dice" else "mm HD95" if metric == "hd95_mm" else metric
    name = _display(variant)
    diff = row.mean_difference
    ci = f"[95% CI {_fmt(row.ci_low, k, signed=True)}, {_fmt(row.ci_high, k, signed=True)}]"
    if _is_missing(diff):
        what = {
            "coarse": f"{name}'s coarse output vs the baseline",
            "refined": "its refined output vs the baseline",
            "refinement": "refinement vs its own coarse output",
        }[kind]
        return f"{what}: no paired cases"
    diff = float(diff)
    higher = _stats.higher_is_better(metric)
    size = f"{_fmt(abs(diff), k)} {unit} {ci}, {_significance(row.p_holm)}"
    if diff == 0:
        change = {
            "coarse": f"{name}'s coarse output equals the baseline on average",
            "refined": "its refined output equals the baseline on average",
            "refinement": "refinement leaves its own coarse output unchanged on average",
        }[kind]
        return f"{change} {ci}, {_significance(row.p_holm)}"
    better = (diff > 0) == higher
    if kind == "refinement":
        verb = "improves on" if better else "worsens"
        return f"refinement {verb} its own coarse output by {size}"
    subject = f"{name}'s coarse output" if kind == "coarse" else "its refined output"
    return f"{subject} is {'better' if better else 'worse'} than the baseline by {size}"


def _gain_sections(comparisons: pd.DataFrame, metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """Section "Where does the gain come from?": per dataset x backbone x head variant, the
    coarse-vs-baseline, refined-vs-baseline and refined-vs-coarse comparisons (Dice, HD95 mm)
    as a table and one sentence per metric. Ablation variants are left to their own section."""
    if comparisons.empty:
        return []
    rows = comparisons[comparisons["metric"].isin(_VERDICT_METRICS)].copy()
    for col in ("variant", "output", "reference_variant", "reference_output"):
        rows[col] = rows[col].astype(str)
    kinds = {
        ("coarse", "baseline", "coarse"): "coarse",
        ("refined", "baseline", "coarse"): "refined",
        ("refined", "self", "coarse"): "refinement",
    }

    def kind_of(r: pd.Series) -> str | None:
        ref = "self" if r["reference_variant"] == r["variant"] else r["reference_variant"]
        return kinds.get((r["output"], ref, r["reference_output"]))

    if rows.empty:
        return []
    rows["gain_kind"] = rows.apply(kind_of, axis=1)
    rows = rows[rows["gain_kind"].notna() & (rows["variant"] != "baseline")]
    rows = rows[rows["variant"].map(lambda v: _figures.parse_ablation(v) is None)]
    order = {"coarse": 0, "refined": 1, "refinement": 2}
    labels = {
        "coarse": "coarse vs baseline (training effect of the point loss)",
        "refined": "refined vs baseline",
        "refinement": "refined vs own coarse (effect of refinement at inference)",
    }
    out = []
    groups = rows.groupby(["dataset", "backbone", "variant"], sort=False)
    keys = sorted(groups.groups, key=lambda k: (str(k[0]), str(k[1]), _variant_rank(str(k[2]))))
    for dataset, backbone, variant in keys:
        group = groups.get_group((dataset, backbone, variant))
        group = group.assign(
            metric_order=group["metric"].map({m: i for i, m in enumerate(_VERDICT_METRICS)}),
            kind_order=group["gain_kind"].map(order),
        ).sort_values(["metric_order", "kind_order"])
        sentences = []
        for _, by_metric in group.groupby("metric_order", sort=True):
            metric_name = str(by_metric["metric"].iloc[0])
            clauses = [
                _gain_clause(r, r.gain_kind, str(variant))
                for r in by_metric.itertuples(index=False)
            ]
            text = "; ".join(clauses)
            sentences.append(
                {
                    "metric": _METRIC_LABELS.get(metric_name, metric_name),
                    "text": text[:1].upper() + text[1:] + ".",
                }
            )
        table = []
        for r in group.itertuples(index=False):
            k = _digits(str(r.metric))
            table.append(
                {
                    "comparison": labels[r.gain_kind],
                    "metric": _METRIC_LABELS.get(str(r.metric), str(r.metric)),
                    "cases × seeds": f"{r.n_cases} × {r.n_seeds}",
                    "reference mean": _fmt(r.mean_reference, k),
                    "variant mean": _fmt(r.mean_variant, k),
                    "difference [95% CI]": _fmt_ci(r.mean_difference, r.ci_low, r.ci_high, k),
                    "p (Holm)": _fmt_p(r.p_holm),
                    "verdict at 0.05": _significance(r.p_holm).split(": ", 1)[-1],
                }
            )
        out.append(
            {
                "title": f"{dataset} / {backbone}: {variant}",
                "sentences": sentences,
                "html": _html_table(pd.DataFrame(table)),
            }
        )
    return out


def _ablation_table(summary: pd.DataFrame) -> pd.DataFrame:
    """knob, value, variant, output, mean Dice and HD95 (mm) with 95% CI, n cases x seeds."""
    if summary.empty:
        return pd.DataFrame()
    table = summary.copy()
    table["cell"] = [
        f"{_fmt(m, _digits(metric))} [{_fmt(lo, _digits(metric))}, {_fmt(hi, _digits(metric))}]"
        for m, lo, hi, metric in zip(
            table["mean"], table["ci_low"], table["ci_high"], table["metric"], strict=True
        )
    ]
    table["n"] = table["n_cases"].astype(str) + " × " + table["n_seeds"].astype(str)
    table["knob"] = table["knob"].where(table["role"] != "reference", "(reference)")
    table["value"] = table["value_label"].where(
        table["role"] != "base", table["value_label"] + " (base)"
    )
    keys = ["dataset", "backbone", "knob", "value", "variant", "output"]
    first = table.drop_duplicates(subset=keys)[keys].reset_index(drop=True)
    wide = table.pivot_table(index=keys, columns="metric", values="cell", aggfunc="first")
    n = table.groupby(keys, sort=False)["n"].first()
    wide = wide.reindex(pd.MultiIndex.from_frame(first))
    out = first.copy()
    for metric in ("dice", "hd95_mm"):
        label = f"mean {_METRIC_LABELS[metric]} [95% CI]"
        out[label] = wide[metric].to_numpy() if metric in wide.columns else "n/a"
    out["n (cases × seeds)"] = n.reindex(pd.MultiIndex.from_frame(first)).to_numpy()
    return out.fillna("n/a")


def _class_order(metrics: pd.DataFrame) -> dict[str, int]:
    """Class name -> display position (class_index order, 'mean' last)."""
    pairs = metrics[["class", "class_index"]].drop_duplicates()
    pairs = pairs.assign(_region=pairs["class_index"] < 0)  # regions (index -1) after labels
    pairs = pairs.sort_values(["_region", "class_index", "class"])
    order = {str(c): i for i, c in enumerate(pairs["class"].astype(str).drop_duplicates())}
    order["mean"] = len(order) + 1
    return order


def _summary_tables(summary: pd.DataFrame, metrics: pd.DataFrame) -> list[dict[str, str]]:
    """Per metric: classes (rows) x variant · output (columns), 'mean ± SD over seeds'."""
    order = _class_order(metrics)
    tables = []
    for metric in ("dice", "hd95_mm", "hd95_vox"):
        sub = summary[summary["metric"] == metric].copy()
        if sub.empty:
            continue
        k = _digits(metric)
        sub["cell"] = [
            _fmt(m, k) + ("" if _is_missing(s) else f" ± {_fmt(s, k)}")
            for m, s in zip(sub["mean"], sub["std"], strict=True)
        ]
        pairs = sorted(
            {(str(v), str(o)) for v, o in zip(sub["variant"], sub["output"], strict=True)},
            key=lambda vo: (_variant_rank(vo[0]), _output_rank(vo[1])),
        )
        sub["column"] = sub["variant"].astype(str) + " · " + sub["output"].astype(str)
        sub["class"] = sub["class"].astype(str)
        wide = sub.pivot_table(
            index=["dataset", "backbone", "class"],
            columns="column",
            values="cell",
            aggfunc="first",
        )
        wide = wide.reindex(columns=[f"{v} · {o}" for v, o in pairs])
        wide = wide.reset_index()
        wide["_c"] = wide["class"].map(lambda c: order.get(c, len(order)))
        wide = wide.sort_values(["dataset", "backbone", "_c", "class"]).drop(columns="_c")
        wide.columns.name = None
        seeds = sorted({int(n) for n in sub["n_seeds"].dropna()})
        cases = sorted({int(n) for n in sub["n_cases"].dropna()})
        tables.append(
            {
                "title": _METRIC_LABELS.get(metric, metric),
                "note": f"mean ± SD over seeds (n_seeds: {', '.join(map(str, seeds)) or 'n/a'}; "
                f"n_cases: {', '.join(map(str, cases)) or 'n/a'})",
                "html": _html_table(wide.fillna("n/a")),
            }
        )
    return tables


def _published_table(summary: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """Our means beside published numbers matching dataset/backbone/variant/output/class/metric.

    Dice is shown in %, HD95 in voxel units (the protocol of the published numbers). Rows: the
    class mean, plus every class with a published number for that dataset and backbone.
    """
    if summary.empty:
        return pd.DataFrame()
    dice = summary[summary["metric"] == "dice"]
    dice_scale = 100.0 if dice.empty or float(np.nanmax(np.abs(dice["mean"]))) <= 1.0 else 1.0
    scales = {"dice": dice_scale, "dice_authors": dice_scale}

    refs = references.copy()
    for col in ("dataset", "backbone", "variant", "output", "metric"):
        refs[f"_{col}"] = refs[col].astype(str).str.strip().str.lower()
    refs["_class"] = refs["class"].map(_normalise_name)

    ours = summary.copy()
    ours["_class"] = ours["class"].map(_normalise_name)
    for col in ("dataset", "backbone", "variant", "output"):
        ours[f"_{col}"] = ours[col].astype(str).str.strip().str.lower()
    key = ["_dataset", "_backbone", "_variant", "_output", "_class"]

    def our_value(group: pd.DataFrame, metric: str) -> str:
        hit = group[group["metric"] == metric]["mean"]
        if hit.empty or _is_missing(hit.iloc[0]):
            return NOT_AVAILABLE
        return _fmt(float(hit.iloc[0]) * scales.get(metric, 1.0), 2)

    rows = []
    groups = ours.groupby(key + ["dataset", "backbone", "variant", "output", "class"], sort=False)
    for values, group in groups:
        ds, bb, var, out, cls = values[:5]
        dataset, backbone, variant, output, class_name = values[5:]
        published_classes = set(
            refs[(refs["_dataset"] == ds) & (refs["_backbone"] == bb)]["_class"]
        )
        if cls != "mean" and cls not in published_classes:
            continue
        matched = refs[
            (refs["_dataset"] == ds)
            & (refs["_backbone"] == bb)
            & (refs["_variant"] == var)
            & (refs["_output"] == out)
            & (refs["_class"] == cls)
        ]
        metrics = ["dice", "hd95_vox"] + sorted(set(matched["_metric"]) - {"dice", "hd95_vox"})
        for metric in metrics:
            pubs = matched[matched["_metric"] == metric]
            base = {
                "dataset": dataset,
                "backbone": backbone,
                "variant": variant,
                "output": output,
                "class": class_name,
                "metric": (
                    "Dice (%)"
                    if metric == "dice"
                    else _METRIC_LABELS.get(metric, metric)
                    if metric != "hd95_vox"
                    else "HD95 (voxels)"
                ),
                "ours": our_value(group, metric),
                "ours, authors' edge-case convention": our_value(group, f"{metric}_authors"),
            }
            if pubs.empty:
                rows.append({**base, "published": NOT_AVAILABLE, "source": "", "table": ""})
            for p in pubs.itertuples(index=False):
                rows.append(
                    {
                        **base,
                        "published": _fmt(p.value, 2),
                        "source": p.source,
                        "table": p.table or "",
                    }
                )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_v"] = table["variant"].astype(str).map(_variant_rank)
    table["_o"] = table["output"].astype(str).map(_output_rank)
    table["_c"] = table["class"].astype(str).map(lambda c: (c == "mean", c))
    table = table.sort_values(["dataset", "backbone", "_v", "_o", "_c"], kind="stable")
    return table.drop(columns=["_v", "_o", "_c"])


def _empty_table(empty_counts: pd.DataFrame) -> pd.DataFrame:
    counts = ["empty_reference", "empty_prediction", "both_empty"]
    present = [c for c in counts if c in empty_counts.columns]
    if empty_counts.empty or not present:
        return pd.DataFrame()
    nonzero = empty_counts[empty_counts[present].fillna(0).sum(axis=1) > 0]
    keys = ["dataset", "backbone", "variant", "output", "class"]
    return nonzero.sort_values(keys, key=lambda s: s.astype(str))


def _runtime_table(
    runs: list[dict[str, Any]], pretrain: list[dict[str, Any]] | None = None
) -> pd.DataFrame:
    """Wall time per run; the backbone pretraining runs (first stage) are listed as
    ``pretrain`` before the variants of their dataset and backbone."""
    rows = []
    ordered = sorted(
        [*(pretrain or []), *runs],
        key=lambda r: (str(r["dataset"]), str(r["backbone"]), not _is_pretrain(r)),
    )
    for run in ordered:
        train = run.get("train") or {}
        wall = run.get("wall_time_s")
        rows.append(
            {
                "dataset": run.get("dataset"),
                "backbone": run.get("backbone"),
                "stage": "pretrain (backbone alone)" if _is_pretrain(run) else "variant",
                "variant": PRETRAIN if _is_pretrain(run) else run.get("variant"),
                "seed": run.get("seed"),
                "device": run.get("device", "n/a"),
                "iterations": train.get("iterations", "n/a") if isinstance(train, dict) else "n/a",
                "wall time (s)": _fmt(wall, 1),
                "wall time (min)": _fmt(None if _is_missing(wall) else float(wall) / 60.0, 2),
                "it/s": _fmt(run.get("iterations_per_s"), 2),
            }
        )
    return pd.DataFrame(rows)


def _cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """variant, output, s/iteration, mean Dice, mean HD95 (mm), on the Pareto front (yes/no)."""
    if cost.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "dataset": cost["dataset"],
            "backbone": cost["backbone"],
            "variant": cost["label"],
            "output": cost["output"],
            "s/iteration": [_fmt(v, 4) for v in cost["s_per_iteration"]],
            "timed runs": cost["n_timed_runs"],
            "Dice": [_fmt(v, _digits("dice")) for v in cost["dice"]],
            "HD95 (mm)": [_fmt(v, _digits("hd95_mm")) for v in cost["hd95_mm"]],
            "n cases": cost["n_cases"],
            "on the front": ["yes" if f else "no" for f in cost["on_front"]],
        }
    )


def _config_table(runs: list[dict[str, Any]], field: str) -> pd.DataFrame:
    """Distinct ``run.json[field]`` dicts per dataset/backbone/variant."""
    rows = []
    seen = set()
    for run in runs:
        value = run.get(field)
        if not isinstance(value, dict):
            value = {field: value}
        row = {
            "dataset": run.get("dataset"),
            "backbone": run.get("backbone"),
            "variant": run.get("variant"),
            **{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in value.items()},
        }
        marker = json.dumps(row, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            rows.append(row)
    table = pd.DataFrame(rows)
    first = ["dataset", "backbone", "variant", "head", "fusion", "expert_width", "num_points"]
    ordered = [c for c in first if c in table.columns]
    return table[ordered + [c for c in table.columns if c not in ordered]] if len(table) else table


def _head_table(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """The head settings per variant; a bare backbone (``head: none``) shows "–" for the settings
    it records but does not use."""
    table = _config_table(runs, "head")
    if "head" in table.columns:
        knobs = [c for c in table.columns if c not in ("dataset", "backbone", "variant", "head")]
        table[knobs] = table[knobs].astype(object)
        table.loc[table["head"] == "none", knobs] = "–"
    return table


def _versions(runs: list[dict[str, Any]]) -> pd.DataFrame:
    found: dict[str, set[str]] = {}
    for run in runs:
        for name, version in (run.get("versions") or {}).items():
            found.setdefault(str(name), set()).add(str(version))
    rows = [
        {"package": name, "version(s)": ", ".join(sorted(v)), "consistent": len(v) == 1}
        for name, v in sorted(found.items())
    ]
    return pd.DataFrame(rows)


def _distinct(runs: list[dict[str, Any]], field: str) -> list[str]:
    values = {
        json.dumps(r.get(field), sort_keys=True, default=str)
        if isinstance(r.get(field), dict | list)
        else str(r.get(field))
        for r in runs
        if r.get(field) is not None
    }
    return sorted(values)


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def _embed(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def _figure_entry(title: str, caption: str, paths: list[Path]) -> dict[str, Any]:
    png = next(p for p in paths if p.suffix == ".png")
    return {
        "title": title,
        "caption": caption,
        "src": _embed(png),
        "files": [p.name for p in paths],
    }


def _make_figures(
    metrics: pd.DataFrame, runs: list[dict[str, Any]], figures_dir: Path
) -> list[dict[str, Any]]:
    figures_dir.mkdir(parents=True, exist_ok=True)
    out = [
        _figure_entry(
            "Per-class scores",
            "Dice and HD95 (mm) per class, one point per test case (mean over seeds); boxes by "
            "variant and scored output (darker shade = refined output). Infinite HD95 (empty "
            "masks) are left out and counted in the empty-mask table.",
            _figures.plot_per_class_scores(metrics, figures_dir / "per_class_scores"),
        )
    ]
    variants = sorted(set(metrics["variant"].astype(str)), key=_variant_rank)
    if "baseline" in variants and len(variants) > 1:
        target = "morse" if "morse" in variants else next(v for v in variants if v != "baseline")
        out.append(
            _figure_entry(
                f"Paired cases: baseline → {target}",
                f"One line per test case shared by baseline (coarse) and {target} (coarse and "
                "refined), case means over classes and seeds; black: mean over cases.",
                _figures.plot_paired_cases(
                    metrics,
                    figures_dir / f"paired_cases_{target}",
                    variant=target,
                    reference="baseline",
                ),
            )
        )
    groups: dict[tuple[str, str], dict[str, Path]] = {}
    for run in runs:
        if not (Path(run["_dir"]) / "qualitative.npz").exists():
            continue
        key = (str(run["dataset"]), str(run["backbone"]))
        groups.setdefault(key, {}).setdefault(str(run["variant"]), Path(run["_dir"]))
    for (dataset, backbone), run_dirs in sorted(groups.items()):
        names = _label_names(metrics[metrics["dataset"] == dataset])
        stem = figures_dir / f"qualitative_{_slug(dataset)}_{_slug(backbone)}"
        out.append(
            _figure_entry(
                f"Qualitative: {dataset} / {backbone}",
                "Ground truth solid, prediction dashed (top: coarse, bottom: refined), inference "
                "points in yellow; inset: the window where baseline and morse disagree most "
                "(lowest seed of each variant).",
                _figures.plot_qualitative(run_dirs, stem, names),
            )
        )
    logged = {
        str(Path(r["_dir"]).relative_to(Path(r["_dir"]).parents[3])): Path(r["_dir"])
        for r in runs
        if (Path(r["_dir"]) / "train_log.csv").exists()
    }
    if logged:
        out.append(
            _figure_entry(
                "Training curves",
                "Training loss (and point loss) vs iteration, mean over seeds ± 1 SD.",
                _figures.plot_training_curves(logged, figures_dir / "training_curves"),
            )
        )
    return out


def _ablation_figure(
    metrics: pd.DataFrame, runs: list[dict[str, Any]], figures_dir: Path
) -> dict[str, Any] | None:
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = _figures.plot_ablations(metrics, figures_dir / "ablations", runs)
    if not paths:
        return None
    return _figure_entry(
        "Ablations",
        "One panel per ablated knob (top: Dice, below: HD95 in mm), one line per scored output; "
        "each point is the mean over test cases of the case means (foreground classes, then "
        "seeds, averaged per case) with a 95% bootstrap band over cases; the star marks the base "
        "variant at its own value of the knob; dashed: baseline (coarse) mean.",
        paths,
    )


def _cost_figure(
    metrics: pd.DataFrame, runs: list[dict[str, Any]], figures_dir: Path
) -> dict[str, Any] | None:
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = _figures.plot_cost_accuracy(metrics, runs, figures_dir / "cost_accuracy")
    if not paths:
        return None
    devices = ", ".join(_distinct(runs, "device")) or "n/a"
    return _figure_entry(
        "Cost against accuracy",
        "Training seconds per iteration (log axis; median over seeds of 1 / it/s) against the "
        "mean over test cases of the case means, Dice on top and HD95 (mm) below; one marker "
        "per variant and scored output (circle: coarse, diamond: refined). Dashed step line: "
        "the Pareto front, the best Dice for at most that cost (black-edged markers). The "
        "timings are CPU timings from the training runs themselves (the it/s each run.json "
        "records for the variant's own training stage, not a separate benchmark), so they "
        f"include data loading and logging. Devices: {devices}.",
        paths,
    )


def _read_boundary(path: Path) -> pd.DataFrame | None:
    """boundary.csv (errors vs distance to the reference boundary), None when absent."""
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path, dtype={"dataset": str, "backbone": str, "variant": str,
                                         "output": str, "case": str})  # fmt: skip
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    required = ["dataset", "backbone", "variant", "seed", "output", "distance_mm", "n_voxels",
                "n_errors"]  # fmt: skip
    missing = [c for c in required if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"{path}: missing columns {missing}")
    return frame


def _boundary_figure(boundary: pd.DataFrame | None, figures_dir: Path) -> dict[str, Any] | None:
    if boundary is None or boundary.empty:
        return None
    figures_dir.mkdir(parents=True, exist_ok=True)
    ablation = boundary["variant"].astype(str).map(lambda v: _figures.parse_ablation(v) is not None)
    note = ""
    if ablation.any() and not ablation.all():
        boundary = boundary[~ablation]
        note = " Ablation variants are left out of this figure (they are in boundary.csv)."
    return _figure_entry(
        "Errors against distance to the boundary",
        "Error rate (voxels where prediction ≠ reference / voxels, all foreground classes "
        "pooled) per distance bin to the reference boundary, pooled over cases and seeds; "
        "solid: coarse, dashed: refined; band: range of the per-seed rates. Point refinement "
        "targets the bins near 0 mm." + note,
        _figures.plot_boundary_errors(boundary, figures_dir / "boundary_errors"),
    )


def _label_names(metrics: pd.DataFrame) -> list[str]:
    """Names of label values 1..max(class_index) (region rows, index -1, are not labels)."""
    labels = metrics[metrics["class_index"] >= 1][["class_index", "class"]].drop_duplicates()
    by_index = {int(i): str(c) for i, c in labels.itertuples(index=False)}
    return [by_index.get(i, f"label {i}") for i in range(1, max(by_index, default=0) + 1)]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------
def _render(context: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE_NAME).render(**context)


def _atomic_write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_report(
    experiment: str,
    results_dir: Path,
    out_html: Path,
    figures_dir: Path,
    reference_results: Path | None = None,
    config: dict | None = None,
) -> Path:
    """Render the experiment's HTML report and return its path.

    ``reference_results`` defaults to the repository's ``config/reference_results.csv``;
    ``config`` (the resolved experiment config) is shown under provenance and used to spot
    phantom datasets.
    """
    results_dir, out_html, figures_dir = Path(results_dir), Path(out_html), Path(figures_dir)
    tables = _read_tables(results_dir)
    metrics, summary = tables["metrics"], tables["summary"]
    comparisons, empty_counts = tables["comparisons"], tables["empty_counts"]
    runs = _load_runs(results_dir)
    pretrain = _load_pretrain_runs(results_dir)
    boundary_path = results_dir / "boundary.csv"
    boundary = _read_boundary(boundary_path)
    references = _read_references(reference_results)

    datasets = sorted(set(metrics["dataset"].astype(str)) | {str(r["dataset"]) for r in runs})
    phantoms = _phantom_datasets(datasets, runs, config)
    verdict = _verdict_table(comparisons)
    published = _published_table(summary, references)
    empty = _empty_table(empty_counts)
    runtime = _runtime_table(runs, pretrain)
    cost = _cost_table(_figures.cost_accuracy_summary(metrics, runs))
    ablations = _figures.ablation_summary(metrics, runs)
    ablation_table = _ablation_table(ablations)
    head = _head_table(runs)
    train = _config_table(runs, "train")
    versions = _versions(runs)

    ran = {
        "datasets": datasets,
        "backbones": sorted(
            set(metrics["backbone"].astype(str)) | {str(r["backbone"]) for r in runs}
        ),
        "variants": sorted(
            set(metrics["variant"].astype(str)) | {str(r["variant"]) for r in runs},
            key=_variant_rank,
        ),
        "seeds": sorted(
            {int(s) for s in metrics["seed"].dropna()}
            | {int(r["seed"]) for r in runs if str(r["seed"]).lstrip("-").isdigit()}
        ),
        "outputs": sorted(set(metrics["output"].astype(str)), key=_output_rank),
        "n_runs": len(runs),
        "n_pretrain": len(pretrain),
    }
    inputs = [
        {"name": f"{name}.csv", "sha256": _sha256(results_dir / f"{name}.csv")}
        for name in _REQUIRED_TABLES
    ]
    if reference_results is not None or DEFAULT_REFERENCE_RESULTS.exists():
        ref_path = (
            Path(reference_results) if reference_results is not None else DEFAULT_REFERENCE_RESULTS
        )
        inputs.append({"name": str(ref_path), "sha256": _sha256(ref_path)})
    if boundary_path.exists():
        inputs.append({"name": "boundary.csv", "sha256": _sha256(boundary_path)})

    context = {
        "experiment": experiment,
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commits": _distinct(runs, "git_commit") or ["n/a"],
        "devices": _distinct(runs, "device") or ["n/a"],
        "protocols": _distinct(runs, "protocol") or ["n/a"],
        "protocol_lines": _protocol_lines(runs, pretrain),
        "ran": ran,
        "phantoms": phantoms,
        "phantom_warning": PHANTOM_WARNING,
        "head_html": _html_table(head) if len(head) else "",
        "train_html": _html_table(train) if len(train) else "",
        "verdict_sentences": _verdict_sentences(comparisons),
        "verdict_html": _html_table(verdict) if len(verdict) else "",
        "gain_sections": _gain_sections(comparisons, metrics),
        "ablation_figure": _ablation_figure(metrics, runs, figures_dir),
        "ablation_html": _html_table(ablation_table) if len(ablation_table) else "",
        "boundary_computed": boundary is not None,
        "boundary_figure": _boundary_figure(boundary, figures_dir),
        "summary_tables": _summary_tables(summary, metrics),
        "figures": _make_figures(metrics, runs, figures_dir),
        "published_html": _html_table(published) if len(published) else "",
        "empty_html": _html_table(empty) if len(empty) else "",
        "runtime_html": _html_table(runtime) if len(runtime) else "",
        "cost_figure": _cost_figure(metrics, runs, figures_dir),
        "cost_html": _html_table(cost) if len(cost) else "",
        "versions_html": _html_table(versions) if len(versions) else "",
        "config_text": json.dumps(config, indent=2, sort_keys=True, default=str)
        if config is not None
        else "",
        "inputs": inputs,
        "not_available": NOT_AVAILABLE,
    }
    _atomic_write(out_html, _render(context))
    return out_html
