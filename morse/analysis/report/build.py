"""``build_report``: read the inputs, compute each summary once, format, draw, render, write.

Data flows one way: :mod:`~morse.analysis.inputs` (everything read from disk, once, by
:func:`~morse.analysis.inputs.report.read_report_inputs`) -> :mod:`~morse.analysis.summaries` ->
:mod:`~morse.analysis.plots` and the report's tables and wording -> ``templates/report.html.j2``
-> ONE HTML file (figures embedded as base64 PNG, no external CSS or JavaScript, every text
escaped: tables by pandas, everything else by jinja2 autoescape), written atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from morse.analysis.inputs.report import ReportInputs, read_report_inputs
from morse.analysis.inputs.runs import Run
from morse.analysis.inputs.tables import sha256
from morse.analysis.report import (
    adequacy,
    answer,
    figures,
    provenance,
    regime,
    regime_wording,
    tables,
    wording,
)
from morse.analysis.report.format import html_table, transposed
from morse.analysis.summaries.ablation import ablation_points, ablation_summary
from morse.analysis.summaries.cost import cost_accuracy_summary
from morse.analysis.vocabulary import OUTPUT_LABELS, output_rank, variant_order
from morse.common import atomic_path

__all__ = ["PHANTOM_WARNING", "SUMMARY_NAME", "build_report"]

TEMPLATE_DIR = Path(__file__).with_name("templates")
TEMPLATE_NAME = "report.html.j2"
PHANTOM_WARNING = "phantom data: validates the pipeline, not the paper's claim"
#: The machine-readable summary written next to index.html (what reports/index.html shows).
SUMMARY_NAME = "verdicts.json"
_RUN_KEYS = ["dataset", "backbone", "variant"]


def _render(context: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)  # fmt: skip
    return env.get_template(TEMPLATE_NAME).render(**context)


def _what_ran(metrics, runs: Sequence[Run], pretrain: Sequence[Run]) -> dict[str, Any]:  # noqa: ANN001
    return {
        "datasets": sorted({r.dataset for r in runs}),
        "backbones": sorted({r.backbone for r in runs}),
        "variants": variant_order(r.variant for r in runs),
        "seeds": sorted({r.seed for r in runs}),
        "outputs": sorted(set(metrics["output"].astype(str)), key=output_rank),
        "n_runs": len(runs),
        "n_pretrain": len(pretrain),
    }


def _kinds(runs: Sequence[Run]) -> dict[str, str]:
    """dataset -> the dataset kind its runs record (the published numbers name kinds)."""
    return {r.dataset: str(r.info["dataset_kind"]) for r in runs if r.info.get("dataset_kind")}


def _answer(read: ReportInputs, phantoms: list[str], generated: str, experiment: str,
            figures_dir: Path) -> dict[str, Any]:
    """The report's opening: experiment line, verdict matrix, reading, forest and rank figures."""
    verdicts, ranks = read.answer.verdicts, read.answer.ranks
    line = answer.experiment_line(read.runs, read.pretrain, read.tables.metrics)
    matrix = answer.verdict_matrix(verdicts)
    reading = answer.reading(verdicts, phantoms)
    claims = ([] if verdicts is None else
              verdicts.drop_duplicates("claim")[["label", "statement"]].rename(columns={"statement": "claim"})
              .to_dict("records"))  # fmt: skip
    resamples = sorted({int(n) for n in ranks["n_resamples"]}) if ranks is not None and len(ranks) else []
    return {
        "line": line, "matrix": matrix, "legend": answer.LEGEND, "reading": reading, "claims": claims,
        "n_verdicts": 0 if verdicts is None else len(verdicts),
        "details_html": html_table(answer.verdict_details(verdicts)),
        "forest": figures.forest_entry(read.tables.comparisons, figures_dir),
        "rank_figure": figures.rank_entry(ranks, figures_dir),
        "ranks_html": html_table(answer.rank_summary(ranks)),
        "n_resamples": " / ".join(map(str, resamples)) or "n/a",
        "summary": answer.summary_json(experiment, generated, line, matrix, reading, phantoms, verdicts),
    }  # fmt: skip


def build_report(
    experiment: str,
    results_dir: Path,
    out_html: Path,
    figures_dir: Path,
    runs: Sequence[Path],
    pretrain_runs: Sequence[Path] = (),
    reference_results: Path | None = None,
    config: dict | None = None,
) -> Path:
    """Render the experiment's HTML report and return its path.

    ``results_dir`` holds the aggregated tables; ``runs`` and ``pretrain_runs`` are the
    ``run.json`` files of the variant runs and of the two-stage protocol's backbone pretraining
    runs that the config resolves (the report rule's inputs: nothing is globbed, and a named run
    with a missing file is an error naming it). ``reference_results`` defaults to the
    repository's ``config/reference_results.csv``; ``config`` (the resolved experiment config) is
    shown under provenance and used to spot phantom datasets.
    """
    results_dir, out_html, figures_dir = Path(results_dir), Path(out_html), Path(figures_dir)
    read = read_report_inputs(results_dir, runs, pretrain_runs, reference_results)
    data, variant_runs, first_stage = read.tables, read.runs, read.pretrain
    ablated = set(ablation_points(variant_runs))
    head_rows = read.regime.heads if read.regime.heads is not None else pd.DataFrame()  # judged by compare
    machines = provenance.machines(variant_runs)
    figures_dir.mkdir(parents=True, exist_ok=True)

    ablation = ablation_summary(data.metrics, variant_runs)
    cost = cost_accuracy_summary(data.metrics, variant_runs)
    devices = provenance.distinct(variant_runs, "device")
    ran = _what_ran(data.metrics, variant_runs, first_stage)
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    phantoms = wording.phantom_datasets(ran["datasets"], variant_runs, config)
    opening = _answer(read, phantoms, generated, experiment, figures_dir)
    context = {
        "experiment": experiment,
        "generated": generated,
        "answer": opening,
        "output_labels": OUTPUT_LABELS,
        "git_commits": provenance.distinct(variant_runs, "git_commit") or ["n/a"],
        "devices": devices or ["n/a"],
        "protocols": provenance.distinct(variant_runs, "protocol") or ["n/a"],
        "protocol_lines": wording.protocol_lines(variant_runs, first_stage),
        "ran": ran,
        "phantoms": phantoms,
        "phantom_warning": PHANTOM_WARNING,
        "ablation_warnings": adequacy.ablation_warnings(read.regime.ablation_trends),
        "head_html": html_table(transposed(provenance.head_table(variant_runs), _RUN_KEYS)),
        "train_html": html_table(transposed(provenance.config_table(variant_runs, "train"), _RUN_KEYS)),
        "preparation": provenance.preparation_lines(variant_runs),
        "verdict_sentences": wording.verdict_sentences(data.comparisons),
        "verdict_html": html_table(tables.verdict_table(data.comparisons)),
        "gain_sections": wording.gain_sections(data.comparisons, ablated),
        "refinement_computed": read.refinement is not None,
        "heads_judged": read.regime.heads is not None,
        "adequacy_sentences": adequacy.under_trained_sentences(head_rows),
        "adequacy_html": html_table(adequacy.adequacy_table(head_rows)),
        "plateau_html": html_table(adequacy.plateau_display(variant_runs)),
        "training_figure": figures.training_entry(variant_runs, read.training_logs, figures_dir),
        "machines": {**machines, "html": html_table(machines["html"])},
        "ablation_figure": figures.ablation_entry(ablation, figures_dir, read.regime.ablation_trends),
        "ablation_html": html_table(tables.ablation_table(ablation)),
        "ablation_trends_html": html_table(tables.ablation_trend_table(read.regime.ablation_trends)),
        "boundary_computed": data.boundary is not None,
        "boundary_figure": None if data.boundary is None else figures.boundary_entry(
            data.boundary, ablated, figures_dir),  # fmt: skip
        "summary_tables": tables.summary_tables(data.summary, data.metrics),
        "figures": figures.main_figures(data.metrics, read.qualitative, figures_dir),
        "published_html": html_table(tables.published_table(data.summary, read.references, _kinds(variant_runs))),
        # sections "Is the backbone trained?" and "The effect across the training budget"
        "backbone_sections": regime.backbone_sections(read.regime.backbones, variant_runs, first_stage,
                                                      read.validation_logs, figures_dir),
        "backbones_judged": read.regime.backbones is not None,
        "budget": regime.budget_section(read.regime.budget, read.regime.trends,
                                        sorted({(r.dataset, r.backbone) for r in variant_runs}), figures_dir),
        "empty_html": html_table(tables.empty_table(data.empty_counts)),
        "runtime_html": html_table(provenance.runtime_table(variant_runs, first_stage)),
        "cost_figure": figures.cost_entry(cost, devices, figures_dir),
        "cost_html": html_table(tables.cost_table(cost)),
        "versions_html": html_table(provenance.versions_table(variant_runs)),
        "config_text": "" if config is None else json.dumps(config, indent=2, sort_keys=True, default=str),
        "inputs": [{"name": p.name if p.parent == results_dir else str(p), "sha256": sha256(p)}
                   for p in read.paths],  # fmt: skip
        "not_available": tables.NOT_AVAILABLE,
        "under_trained_sentence": adequacy.UNDER_TRAINED_SENTENCE,
        "backbone_sentence": regime_wording.BACKBONE_SENTENCE,
    }
    html = _render(context)
    with atomic_path(out_html.parent / SUMMARY_NAME) as tmp:
        tmp.write_text(json.dumps(opening["summary"], indent=1, sort_keys=True), encoding="utf-8")
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out_html
