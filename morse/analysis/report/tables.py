"""Tables of results: verdict, per-class summary, ablations, published numbers, empty masks, cost.

Each takes a summary frame (comparisons, summary, ablation or cost summary) and only formats it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from morse.analysis.regime.budget import NOT_AVAILABLE as NO_TREND
from morse.analysis.report.format import fmt, fmt_ci, fmt_p, html_table, is_missing, normalise_name
from morse.analysis.report.regime_wording import BACKBONE, adequacy, not_evidence, trend
from morse.analysis.report.wording import side_words
from morse.analysis.vocabulary import (
    HEADLINE,
    SUMMARISED,
    digits,
    higher_is_better,
    metric_label,
    output_rank,
    variant_rank,
)  # fmt: skip

__all__ = ["ablation_table", "ablation_trend_table", "cost_table", "empty_table", "published_table", "summary_tables",
           "verdict_table"]  # fmt: skip

NOT_AVAILABLE = "not available"


def verdict_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Verdict table ("Does MORSE help?"): difference with 95% CI, Holm-corrected p, the smallest
    difference the experiment could detect (80 % power at the row's Holm level), and which side
    is better by :func:`morse.analysis.verdicts.decide` (as the verdict matrix); the rows of an under-trained backbone, and an under-trained head's refined rows
    (their ``adequacy``), say so instead of naming a side. A column "across the budget" gives
    each row's trend when any row has one."""
    rows = comparisons[comparisons["metric"].isin(HEADLINE)].copy()
    if rows.empty:
        return pd.DataFrame()
    rows["_m"] = rows["metric"].map({m: i for i, m in enumerate(HEADLINE)})
    rows["_v"] = rows["variant"].astype(str).map(variant_rank)
    rows["_o"] = rows["output"].astype(str).map(output_rank)
    rows = rows.sort_values(["dataset", "backbone", "_m", "_v", "_o", "reference_variant"])
    out = []
    for r in rows.itertuples(index=False):
        metric = str(r.metric)
        k = digits(metric)
        arms = (str(r.variant), str(r.reference_variant))
        if arms[0] == arms[1]:  # refinement vs its own coarse output: the outputs tell the sides apart
            arms = (f"{arms[0]} ({r.output})", f"{arms[1]} ({r.reference_output})")
        better = side_words(r, *arms)
        state = adequacy(r)
        if not_evidence(state, str(r.output)):
            better = f"not evidence (under-trained {'backbone' if state == BACKBONE else 'head'})"
        out.append(
            {
                "dataset": r.dataset,
                "backbone": r.backbone,
                "metric": metric_label(metric)
                + (" (higher is better)" if higher_is_better(metric) else " (lower is better)"),
                "variant": r.variant,
                "output": str(r.output),
                "vs": f"{r.reference_variant} ({r.reference_output})",
                "cases × seeds": f"{r.n_cases} × {r.n_seeds}",
                "reference mean": fmt(r.mean_reference, k),
                "variant mean": fmt(r.mean_variant, k),
                "difference [95% CI]": fmt_ci(r.mean_difference, r.ci_low, r.ci_high, k),
                "p (Holm)": fmt_p(r.p_holm),
                "rank-biserial r": fmt(r.effect_size, 2),
                "seed SD": fmt(r.seed_sd, k),
                "min. detectable difference": fmt(getattr(r, "min_detectable_difference", None), k),
                "better": better,
                "across the budget": trend(r),
            }
        )
    table = pd.DataFrame(out)
    return table if (table["across the budget"] != NO_TREND).any() else table.drop(columns="across the budget")


def ablation_trend_table(trends: pd.DataFrame | None) -> pd.DataFrame:
    """One row per knob x output x metric of ``ablation_trends.csv``: the values, the slope per
    step with its CI, the Holm p-value, the shape and the decision, and the points' adequacy."""
    if trends is None or trends.empty:
        return pd.DataFrame()
    rows = []
    for r in trends.itertuples(index=False):
        k = digits(str(r.metric)) + 1
        rows.append({"dataset": r.dataset, "backbone": r.backbone, "knob": f"{r.knob} ({r.base})",
                     "values": str(r.values).replace(";", " / "), "output": r.output, "metric": metric_label(str(r.metric)),
                     "slope per step [95% CI]": fmt_ci(r.slope, r.ci_low, r.ci_high, k), "p_holm": fmt_p(r.p_holm), "shape": r.shape, "decision": r.decision, "better at": r.better,
                     "n cases": r.n_cases, "adequacy": r.adequacy + ("" if is_missing(r.under_trained) or not str(r.under_trained)
                                                                     else f" (head under-trained at {r.under_trained})")})  # fmt: skip
    return pd.DataFrame(rows)


def ablation_table(summary: pd.DataFrame) -> pd.DataFrame:
    """knob, value, variant, output, mean Dice and HD95 (mm) with 95% CI, n cases x seeds."""
    if summary.empty:
        return pd.DataFrame()
    table = summary.copy()
    table["cell"] = [
        f"{fmt(m, digits(metric))} [{fmt(lo, digits(metric))}, {fmt(hi, digits(metric))}]"
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
    for metric in HEADLINE:
        label = f"mean {metric_label(metric)} [95% CI]"
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


def summary_tables(summary: pd.DataFrame, metrics: pd.DataFrame) -> list[dict[str, str]]:
    """Per metric: classes (rows) x variant · output (columns), 'mean ± SD over seeds'."""
    order = _class_order(metrics)
    tables = []
    for metric in SUMMARISED:
        sub = summary[summary["metric"] == metric].copy()
        if sub.empty:
            continue
        k = digits(metric)
        sub["cell"] = [
            fmt(m, k) + ("" if is_missing(s) else f" ± {fmt(s, k)}")
            for m, s in zip(sub["mean"], sub["std"], strict=True)
        ]
        pairs = sorted(
            {(str(v), str(o)) for v, o in zip(sub["variant"], sub["output"], strict=True)},
            key=lambda vo: (variant_rank(vo[0]), output_rank(vo[1])),
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
                "title": metric_label(metric),
                "note": f"mean ± SD over seeds (n_seeds: {', '.join(map(str, seeds)) or 'n/a'}; "
                f"n_cases: {', '.join(map(str, cases)) or 'n/a'})",
                "html": html_table(wide.fillna("n/a")),
            }
        )
    return tables


def published_table(summary: pd.DataFrame, references: pd.DataFrame,
                    kinds: Mapping[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Our means beside published numbers matching dataset/backbone/variant/output/class/metric.

    The references name dataset kinds: a dataset is matched through ``kinds`` (dataset -> kind,
    as its runs record it; the name itself where absent). Dice is shown in %, HD95 in voxel
    units (the protocol of the published numbers), each published number with its protocol.
    Rows: the class mean, plus every class with a published number for that dataset and backbone.
    """
    if summary.empty:
        return pd.DataFrame()
    dice = summary[summary["metric"] == "dice"]
    dice_scale = 100.0 if dice.empty or float(np.nanmax(np.abs(dice["mean"]))) <= 1.0 else 1.0
    scales = {"dice": dice_scale, "dice_authors": dice_scale}

    refs = references.copy()
    for col in ("dataset", "backbone", "variant", "output", "metric"):
        refs[f"_{col}"] = refs[col].astype(str).str.strip().str.lower()
    refs["_class"] = refs["class"].map(normalise_name)

    ours = summary.copy()
    ours["_class"] = ours["class"].map(normalise_name)
    for col in ("dataset", "backbone", "variant", "output"):
        ours[f"_{col}"] = ours[col].astype(str).str.strip().str.lower()
    ours["_dataset"] = [str((kinds or {}).get(d, d)).strip().lower() for d in ours["dataset"].astype(str)]
    key = ["_dataset", "_backbone", "_variant", "_output", "_class"]

    def our_value(group: pd.DataFrame, metric: str) -> str:
        hit = group[group["metric"] == metric]["mean"]
        if hit.empty or is_missing(hit.iloc[0]):
            return NOT_AVAILABLE
        return fmt(float(hit.iloc[0]) * scales.get(metric, 1.0), 2)

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
                "metric": "Dice (%)" if metric == "dice" else metric_label(metric),
                "ours": our_value(group, metric),
                "ours, authors' edge-case convention": our_value(group, f"{metric}_authors"),
            }
            if pubs.empty:
                rows.append({**base, "published": NOT_AVAILABLE, "source": "", "table": "", "protocol": ""})
            for p in pubs.itertuples(index=False):
                rows.append(
                    {
                        **base,
                        "published": fmt(p.value, 2),
                        "source": p.source,
                        "table": p.table or "",
                        "protocol": getattr(p, "protocol", "") or "",
                    }
                )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_v"] = table["variant"].astype(str).map(variant_rank)
    table["_o"] = table["output"].astype(str).map(output_rank)
    table["_c"] = table["class"].astype(str).map(lambda c: (c == "mean", c))
    table = table.sort_values(["dataset", "backbone", "_v", "_o", "_c"], kind="stable")
    return table.drop(columns=["_v", "_o", "_c"])


def empty_table(empty_counts: pd.DataFrame) -> pd.DataFrame:
    counts = ["empty_reference", "empty_prediction", "both_empty"]
    present = [c for c in counts if c in empty_counts.columns]
    if empty_counts.empty or not present:
        return pd.DataFrame()
    nonzero = empty_counts[empty_counts[present].fillna(0).sum(axis=1) > 0]
    keys = ["dataset", "backbone", "variant", "output", "class"]
    return nonzero.sort_values(keys, key=lambda s: s.astype(str))


def cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """variant, output, s/iteration, mean Dice, mean HD95 (mm), on the Pareto front (yes/no)."""
    if cost.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "dataset": cost["dataset"],
            "backbone": cost["backbone"],
            "variant": cost["label"],
            "output": cost["output"],
            "s/iteration": [fmt(v, 4) for v in cost["s_per_iteration"]],
            "timed runs": cost["n_timed_runs"],
            **{metric_label(m): [fmt(v, digits(m)) for v in cost[m]] for m in HEADLINE},
            "n cases": cost["n_cases"],
            "on the front": ["yes" if f else "no" for f in cost["on_front"]],
        }
    )


