"""The report's sentences: training protocol, phantom warning, verdict and gain wording.

Every sentence is worded from the numbers of ``comparisons.csv`` (difference, CI, Holm p, and the
regime columns ``adequacy`` and ``budget_trend``) and the run records only; the direction of a
metric comes from the vocabulary. A comparison whose backbone or head is under-trained is called
not evidence about the method instead of naming a better side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from markupsafe import Markup

from morse.analysis import stats
from morse.analysis.inputs.runs import Run
from morse.analysis.report.adequacy import UNDER_TRAINED_SENTENCE
from morse.analysis.report.format import fmt, fmt_ci, fmt_p, html_table, is_missing
from morse.analysis.report.regime_wording import (
    BACKBONE,
    BACKBONE_SENTENCE,
    HEAD,
    adequacy,
    not_evidence,
    trend_phrase,
)  # fmt: skip
from morse.analysis.verdicts import decide
from morse.analysis.vocabulary import (
    HEADLINE,
    METRICS,
    digits,
    display_name,
    higher_is_better,
    metric_label,
    variant_rank,
)  # fmt: skip

__all__ = ["detectable", "gain_sections", "phantom_datasets", "protocol_lines", "significance",
           "verdict_sentences"]  # fmt: skip


def _join_counts(values: Iterable[int | None]) -> str:
    found = sorted({v for v in values if v is not None})
    return " / ".join(str(v) for v in found) if found else "an unrecorded number of"


def _protocol_text(protocol: str, here: Sequence[Run], first: Sequence[Run]) -> str:
    m = _join_counts(r.iterations for r in here)
    key = protocol.replace("-", "_").lower()
    if key == "two_stage" and first:
        n = _join_counts(r.iterations for r in first)
        return f"two-stage: backbone pretrained {n} iterations, then each variant {m} more"
    if key == "two_stage":
        return ("two-stage: backbone pretrained (pretraining run not found), then each "
                f"variant {m} more iterations")  # fmt: skip
    if key == "single_stage":
        return (f"single-stage: backbone and head trained together for {m} iterations, "
                "no separate pretraining")  # fmt: skip
    if protocol:
        return f"protocol {protocol}: each variant {m} iterations"
    return f"protocol not recorded: each variant {m} iterations"


def protocol_lines(runs: Sequence[Run], pretrain: Sequence[Run]) -> list[str]:
    """Plain statement of the training protocol per dataset x backbone (identical ones merged).

    two_stage: "two-stage: backbone pretrained N iterations, then each variant M more";
    single_stage: "single-stage: ...". N is read from the pretrain runs' ``train.iterations``.
    """
    pairs = sorted({(r.dataset, r.backbone) for r in [*runs, *pretrain]})
    by_text: dict[str, list[str]] = {}
    for pair in pairs:
        here = [r for r in runs if (r.dataset, r.backbone) == pair]
        first = [r for r in pretrain if (r.dataset, r.backbone) == pair]
        protocols = sorted({str(r.info["protocol"]) for r in here if r.info.get("protocol")})
        texts = [_protocol_text(p, here, first) for p in protocols or ["two_stage" if first else ""]]
        by_text.setdefault("; ".join(texts), []).append(f"{pair[0]} / {pair[1]}")
    if len(by_text) == 1:
        return list(by_text)
    return [f"{', '.join(where)}: {text}" for text, where in by_text.items()]


def _contains_phantom(value: Any) -> bool:
    if isinstance(value, str):
        return "phantom" in value.lower()
    if isinstance(value, dict):
        return any(_contains_phantom(k) or _contains_phantom(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_phantom(v) for v in value)
    return False


def phantom_datasets(datasets: Iterable[str], runs: Sequence[Run], config: dict | None) -> list[str]:
    """Datasets that are generated phantoms (by name, run.json kind/protocol, or config)."""
    config_datasets = (config or {}).get("datasets", {})
    found = []
    for dataset in datasets:
        evidence: list[Any] = [dataset]
        if isinstance(config_datasets, dict):
            evidence.append(config_datasets.get(dataset))
        evidence += [[r.info.get("dataset_kind"), r.info.get("protocol")]
                     for r in runs if r.dataset == dataset]  # fmt: skip
        if any(_contains_phantom(e) for e in evidence):
            found.append(dataset)
    return found


def detectable(row: Any) -> str:
    """"this experiment could have detected differences of at least X <unit>" (80 % power at the
    row's Holm level), from comparisons.csv ``min_detectable_difference``."""
    metric = str(row.metric)
    mdd = getattr(row, "min_detectable_difference", None)
    if is_missing(mdd) or not math.isfinite(float(mdd)):
        return "the smallest detectable difference could not be estimated (too few paired cases or no spread)"
    unit = METRICS[metric].unit if metric in METRICS else metric
    level = getattr(row, "mdd_alpha", None)
    at = "" if is_missing(level) else f" (80 % power at Holm level {float(level):.3g})"
    return f"this experiment could have detected differences of at least {fmt(mdd, digits(metric))} {unit}{at}"


def side_words(row: Any, variant: str, reference: str = "baseline") -> str:
    """Which side of one comparison row is better, from :func:`morse.analysis.verdicts.decide` (the
    one rule of verdicts.csv and the verdict matrix) with the metric's own direction as the claim:
    "<variant> better", "<reference> better", "no difference", or "no test (<why>)"."""
    metric = str(row.metric)
    verdict = decide(row.mean_difference, row.p_holm, "higher" if higher_is_better(metric) else "lower",
                     metric=metric, n_cases=getattr(row, "n_cases", None),
                     rank_effect=getattr(row, "effect_size", None))  # fmt: skip
    if verdict.state == "not evidence":
        return f"no test ({verdict.basis})"
    return {"supported": f"{variant} better", "contradicted": f"{reference} better"}.get(verdict.state, "no difference")


def verdict_sentences(comparisons: pd.DataFrame) -> list[str]:
    """One plain sentence per MORSE-vs-baseline comparison group; a group whose ``adequacy`` is
    an under-trained backbone (or, for the refined output, head) gets no better/worse verdict,
    and a verdict is followed by its trend across the training budget where there is one."""
    rows = comparisons[
        comparisons["metric"].isin(HEADLINE)
        & comparisons["variant"].astype(str).str.startswith("morse")
        & (comparisons["reference_variant"].astype(str) == "baseline")
    ]
    sentences: list[str] = []
    keys = ["dataset", "backbone", "variant", "output"]
    for (dataset, backbone, variant, output), group in rows.groupby(keys, sort=True):
        head = f"{dataset} / {backbone}, {variant} [{output}] vs baseline: "
        refusal = not_evidence(adequacy(next(group.itertuples(index=False))), str(output))
        order = group["metric"].map({m: i for i, m in enumerate(HEADLINE)})
        group = group.assign(_m=order).sort_values("_m")
        if refusal:
            trends = [f"{metric_label(str(r.metric))}: {trend_phrase(r)}"
                      for r in group.itertuples(index=False) if trend_phrase(r)]  # fmt: skip
            across = f"; across the training budget, {'; '.join(trends)}" if trends else ""
            sentences.append(Markup("{}<strong>{}</strong>{} (numbers in the table below).").format(
                head, refusal, across))  # fmt: skip
            continue
        parts = []
        for r in group.itertuples(index=False):
            verdict = side_words(r, str(variant))
            trend = trend_phrase(r)
            verdict += f" at this budget; {trend}" if trend else ""
            parts.append(f"{metric_label(str(r.metric))}: {verdict} "
                         f"({fmt_ci(r.mean_difference, r.ci_low, r.ci_high, digits(str(r.metric)))}, "
                         f"p_holm {fmt_p(r.p_holm)}; {detectable(r)})")  # fmt: skip
        sentences.append(head + "; ".join(parts))
    return sentences


def significance(p_holm: Any) -> str:
    """Wording of a Holm-adjusted p-value at alpha 0.05 (never 'significant' at p >= 0.05)."""
    if is_missing(p_holm) or not math.isfinite(float(p_holm)):
        return "p_holm n/a: not tested"
    level = f"{stats.ALPHA:g}"
    if float(p_holm) < stats.ALPHA:
        return f"p_holm {fmt_p(p_holm)}: significant at {level}"
    return f"p_holm {fmt_p(p_holm)}: not significant at {level}"


_SUBJECTS = {
    "coarse": ("{name}'s coarse output vs the baseline", "{name}'s coarse output equals the baseline on average"),
    "refined": ("its refined output vs the baseline", "its refined output equals the baseline on average"),
    "refinement": ("refinement vs its own coarse output",
                   "refinement leaves its own coarse output unchanged on average"),
}  # fmt: skip


def _gain_clause(row: Any, kind: str, variant: str) -> str:
    """One clause of the gain sentence, worded from the difference, its CI and p_holm only (an
    under-trained backbone's comparisons, an under-trained head's refined output: no better/worse
    wording at all), followed by its trend across the training budget where there is one."""
    metric = str(row.metric)
    state = adequacy(row)
    if state == BACKBONE and kind != "coarse":
        return f"nor is {_SUBJECTS[kind][0].format(name=display_name(variant))}"
    if state == BACKBONE:
        trend = trend_phrase(row)
        return (f"{display_name(variant)}'s coarse output vs the baseline is {BACKBONE_SENTENCE}"
                + (f" ({trend})" if trend else ""))  # fmt: skip
    if state == HEAD and kind == "refined":
        return f"the head is {UNDER_TRAINED_SENTENCE}"
    if state == HEAD and kind == "refinement":
        return "nor is refinement vs its own coarse output"
    k = digits(metric)
    unit = METRICS[metric].unit if metric in METRICS else metric
    name = display_name(variant)
    ci = f"[95% CI {fmt(row.ci_low, k, signed=True)}, {fmt(row.ci_high, k, signed=True)}]"
    missing, equal = (text.format(name=name) for text in _SUBJECTS[kind])
    if is_missing(row.mean_difference):
        return f"{missing}: no paired cases"
    trend = trend_phrase(row)
    trend = f"; {trend}" if trend else ""
    diff = float(row.mean_difference)
    if diff == 0:
        return f"{equal} {ci}, {significance(row.p_holm)}{trend}"
    size = f"{fmt(abs(diff), k)} {unit} {ci}, {significance(row.p_holm)}"
    better = (diff > 0) == higher_is_better(metric)
    if kind == "refinement":
        return f"refinement {'improves on' if better else 'worsens'} its own coarse output by {size}"
    subject = f"{name}'s coarse output" if kind == "coarse" else "its refined output"
    return f"{subject} is {'better' if better else 'worse'} than the baseline by {size}{trend}"


def _verdict_cell(row: Any) -> str:
    """The gain table's verdict: "not evidence (...)" for an under-trained backbone or head,
    else the significance at 0.05, with the trend across the budget where there is one."""
    state = adequacy(row)
    if not_evidence(state, str(row.output)):
        return f"not evidence (under-trained {'backbone' if state == BACKBONE else 'head'})"
    trend = trend_phrase(row)
    return significance(row.p_holm).split(": ", 1)[-1] + (f"; {trend}" if trend else "")


def _mdd_cell(row: Any) -> str:
    """The minimum detectable difference of a comparison row, in the metric's digits."""
    return fmt(getattr(row, "min_detectable_difference", None), digits(str(row.metric)))


_GAIN_KINDS = {("coarse", "baseline", "coarse"): "coarse", ("refined", "baseline", "coarse"): "refined",
               ("refined", "self", "coarse"): "refinement"}  # fmt: skip
_GAIN_LABELS = {
    "coarse": "coarse vs baseline (training effect of the point loss)",
    "refined": "refined vs baseline",
    "refinement": "refined vs own coarse (effect of refinement at inference)",
}


def _gain_rows(comparisons: pd.DataFrame, ablated: set[tuple[str, str, str]]) -> pd.DataFrame:
    rows = comparisons[comparisons["metric"].isin(HEADLINE)].copy()
    for col in ("dataset", "backbone", "variant", "output", "reference_variant", "reference_output"):
        rows[col] = rows[col].astype(str)
    if rows.empty:
        return rows
    reference = rows["reference_variant"].where(rows["reference_variant"] != rows["variant"], "self")
    rows["gain_kind"] = [_GAIN_KINDS.get(k) for k in
                         zip(rows["output"], reference, rows["reference_output"], strict=True)]  # fmt: skip
    keep = rows["gain_kind"].notna() & (rows["variant"] != "baseline")
    keep &= pd.Series([(d, b, v) not in ablated for d, b, v in
                       zip(rows["dataset"], rows["backbone"], rows["variant"], strict=True)],
                      index=rows.index)  # fmt: skip
    return rows[keep]


def gain_sections(comparisons: pd.DataFrame, ablated: set[tuple[str, str, str]] = frozenset()
                  ) -> list[dict[str, Any]]:  # fmt: skip
    """Section "Where does the gain come from?": per dataset x backbone x head variant, the
    coarse-vs-baseline, refined-vs-baseline and refined-vs-coarse comparisons of the headline
    metrics as a table and one sentence per metric. Ablation variants (``ablated``: their
    dataset, backbone, variant) are left to their own section; the comparisons of an
    under-trained backbone, and the refined output of an under-trained head (the rows'
    ``adequacy``), are named as such instead of being called better or worse."""
    if comparisons.empty:
        return []
    rows = _gain_rows(comparisons, set(ablated))
    if rows.empty:
        return []
    order = {"coarse": 0, "refined": 1, "refinement": 2}
    out = []
    groups = rows.groupby(["dataset", "backbone", "variant"], sort=False)
    for dataset, backbone, variant in sorted(groups.groups, key=lambda k: (k[0], k[1], variant_rank(k[2]))):
        group = groups.get_group((dataset, backbone, variant))
        states = {adequacy(r) for r in group.itertuples(index=False)}
        group = group.assign(metric_order=group["metric"].map({m: i for i, m in enumerate(HEADLINE)}),
                             kind_order=group["gain_kind"].map(order)).sort_values(
            ["metric_order", "kind_order"])  # fmt: skip
        sentences = []
        for _, by_metric in group.groupby("metric_order", sort=True):
            text = "; ".join(_gain_clause(r, r.gain_kind, variant) for r in by_metric.itertuples(index=False))
            sentences.append({"metric": metric_label(str(by_metric["metric"].iloc[0])),
                              "text": text[:1].upper() + text[1:] + "."})  # fmt: skip
        table = [
            {"comparison": _GAIN_LABELS[r.gain_kind], "metric": metric_label(str(r.metric)),
             "cases × seeds": f"{r.n_cases} × {r.n_seeds}",
             "reference mean": fmt(r.mean_reference, digits(str(r.metric))),
             "variant mean": fmt(r.mean_variant, digits(str(r.metric))),
             "difference [95% CI]": fmt_ci(r.mean_difference, r.ci_low, r.ci_high, digits(str(r.metric))),
             "p (Holm)": fmt_p(r.p_holm),
             "verdict at 0.05": _verdict_cell(r),
             "min. detectable difference": _mdd_cell(r)}
            for r in group.itertuples(index=False)
        ]  # fmt: skip
        out.append({"title": f"{dataset} / {backbone}: {variant}", "sentences": sentences,
                    "under_trained": HEAD in states, "backbone_under_trained": BACKBONE in states,
                    "html": html_table(pd.DataFrame(table))})  # fmt: skip
    return out
