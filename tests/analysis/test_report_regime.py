"""The report's regime: "Is the backbone trained?", "The effect across the training budget", and
the verdict and gain wording of a comparison whose backbone is under-trained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from fake_regime import add_validation, budget_metrics, series
from fake_results import build_report, judge, make_results, section

from morse.analysis.report.regime import NO_BUDGET
from morse.analysis.report.regime_wording import BACKBONE_SENTENCE

CLASSES = ["RV", "Myo", "LV"]


def _results(tmp_path: Path, dataset: str, pretrain: str = "flat", budget: bool = False) -> Path:
    """make_results with run records of the kind ``dataset``, a pretrain run, validation curves
    (pretrain ``pretrain``, baseline flat) and, with ``budget``, snapshots where morse's coarse
    Dice gap closes from -0.08 to -0.02 (refined +0.01 throughout)."""
    root = make_results(tmp_path / "results", dataset=dataset, classes=CLASSES)
    runs = root / dataset / "unet"
    for variant in ("baseline", "morse"):
        path = runs / variant / "seed0" / "run.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "dataset_kind": dataset}))
    add_validation(runs / "pretrain" / "seed0", series(pretrain), 300, stage="pretrain", dataset=dataset,
                   backbone="unet", variant="pretrain", seed=0, dataset_kind=dataset,
                   train={"iterations": 300}, protocol="two_stage")  # fmt: skip
    add_validation(runs / "baseline" / "seed0", series("flat", 0.85, 0.01), 20, offset=300)
    if budget:
        def dice(variant: str, output: str, k: int, case: int) -> float:
            base = 0.6 + 0.05 * k + 0.01 * case
            return base if variant == "baseline" else base + (-0.08 / (k + 1) if output == "coarse" else 0.01)

        budget_metrics({"baseline": ["coarse"], "morse": ["coarse", "refined"]}, dice, [5, 10, 15, 20],
                       offset=300, dataset=dataset).to_csv(root / "budget_metrics.csv", index=False)  # fmt: skip
    judge(root)
    return root


def _html(root: Path) -> str:
    out = root.parent / "report"
    return build_report("exp", root, out / "index.html", out / "figures").read_text(encoding="utf-8")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).replace("&#39;", "'")


def test_an_under_trained_backbone_is_not_evidence_about_the_method(tmp_path: Path) -> None:
    """acdc / unet: a baseline test Dice of about 0.7 is 80 % of the R50-U-Net's 87.55 (below 90 %)."""
    root = _results(tmp_path, "acdc")
    backbone = pd.read_csv(root / "backbone_adequacy.csv").iloc[0]
    assert backbone["state"] == "under-trained" and backbone["reference_fraction"] < 0.9
    assert set(pd.read_csv(root / "comparisons.csv")["adequacy"]) == {"backbone under-trained"}
    html = _html(root)
    verdict = section(html, "verdict")
    sentences = [_text(s) for s in re.findall(r"<li>(.*?)</li>", verdict, re.S)]
    assert len(sentences) == 2 and all(BACKBONE_SENTENCE in s for s in sentences)
    for word in ("baseline better", "morse better", "no difference"):
        assert not any(word in s for s in sentences)
    assert verdict.count("not evidence (under-trained backbone)") == 4  # every row of the table
    gain = _text(section(html, "gain-source"))
    assert f"acdc / unet: morse: {BACKBONE_SENTENCE}" in gain and "is better than the baseline" not in gain
    part = _text(section(html, "backbone"))
    percent = round(100 * backbone["reference_fraction"])
    assert "acdc / unet: under-trained" in part
    assert f"reaches {percent} % of the reference Dice, 87.55 (TransUNet paper, ACDC table, 2D R50-U-Net" in part
    assert f"{percent} % 90 % TransUNet paper, ACDC table" in part  # the reference table


def test_a_trained_backbone_keeps_its_verdicts_with_the_trend_across_the_budget(tmp_path: Path) -> None:
    root = _results(tmp_path, "phantom2d", budget=True)
    comparisons = pd.read_csv(root / "comparisons.csv").set_index(["metric", "output"])
    assert comparisons.loc[("dice", "coarse"), "adequacy"] == "adequate"  # the coarse output needs no head
    assert comparisons.loc[("dice", "refined"), "adequacy"] == "undetermined"  # no refinement counts
    assert comparisons.loc[("dice", "coarse"), "budget_trend"] == "closing"
    html = _html(root)
    text = _text(section(html, "verdict"))
    # 2 paired cases: no test can reach p < 0.05, whatever the fixture's p-values (verdicts.decide)
    assert "Dice: no test (too few cases for a test) at this budget; the gap closes with training (+0.012" in text
    assert ("HD95 (mm): no test (too few cases for a test) at this budget; the gap is stable across the "
            "training budget") in text
    assert "across the budget" in section(html, "verdict")  # the table's trend column
    assert "the gap closes with training" in _text(section(html, "gain-source"))
    part = _text(section(html, "backbone"))
    assert ("phantom2d / unet: trained trained: validation Dice on its plateau in every pretrain and baseline "
            "runs (2 run(s)); no published reference: judged by convergence alone") in part
    budget = section(html, "budget")
    assert NO_BUDGET not in budget and "test split" in budget and "nothing is chosen on them" in budget
    assert "<td>closing</td>" in budget and "320: -0.020 [-0.020, -0.020]" in budget
    figures = root.parent / "report" / "figures"
    assert (figures / "budget_curves.png").exists() and (figures / "validation_curves_phantom2d_unet.png").exists()


def test_a_report_without_budget_rows_says_not_available(tmp_path: Path) -> None:
    root = _results(tmp_path, "phantom2d", pretrain="rising")
    assert set(pd.read_csv(root / "comparisons.csv")["budget_trend"]) == {"not available"}
    html = _html(root)
    budget = section(html, "budget")
    assert f"phantom2d / unet: {NO_BUDGET}." in budget and "<img" not in budget
    assert not (root.parent / "report" / "figures" / "budget_curves.png").exists()  # never a flat line
    assert "across the budget" not in section(html, "verdict")
    part = section(html, "backbone")
    assert "phantom2d / unet: under-trained" in part and "still rising at the end of pretraining, seed 0" in part
    assert re.search(r"<td>pretrain</td>\s*<td>0</td>\s*<td>no</td>", part)
    assert re.search(r"<td>baseline</td>\s*<td>0</td>\s*<td>yes</td>", part)
    assert "no published reference: judged by convergence alone" in part


def test_results_before_the_regime_analysis_still_render(tmp_path: Path) -> None:
    """No regime tables, no adequacy column: every section says what is missing."""
    root = make_results(tmp_path / "results", classes=CLASSES)
    for name in ("backbone_adequacy.csv", "head_adequacy.csv", "budget_comparisons.csv", "budget_trends.csv"):
        (root / name).unlink()
    comparisons = pd.read_csv(root / "comparisons.csv").drop(columns=["adequacy", "budget_trend"])
    comparisons.to_csv(root / "comparisons.csv", index=False)
    html = _html(root)
    assert "not judged (no backbone_adequacy.csv" in section(html, "backbone")
    assert f"synapse / unet: {NO_BUDGET}" in section(html, "budget")
    assert np.isnan(pd.read_csv(root / "comparisons.csv").get("adequacy", pd.Series([np.nan]))).all()


def test_runs_without_validation_records_leave_the_backbone_undetermined(tmp_path: Path) -> None:
    """synapse / unet: the baseline's Dice (0.719) reaches 94 % of the authors' 76.16, but no run
    logged a validation curve: the reference alone says trained."""
    html = _html(make_results(tmp_path / "results", classes=CLASSES))
    part = _text(section(html, "backbone"))
    assert "Validation curve: not recorded" in part and "no validation curve recorded" in part
    assert "synapse / unet: trained" in part and "reaches 94 % of the reference Dice, 76.16 (authors' code" in part
