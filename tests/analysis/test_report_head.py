"""The report's head-adequacy, training-signal, power, machine and preparation wiring."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from fake_results import build_report, judge, make_results, section

from morse.analysis.report.adequacy import HURTS_CONVERGED, UNDER_TRAINED_SENTENCE
from morse.data.sources.fingerprint import dataset_record
from morse.evaluation.refinement import REFINEMENT_COLUMNS

CLASSES = ["aorta", "gallbladder"]


def _refinement(root: Path, fixed: int, broken: int) -> None:
    """refinement.csv of the morse run: two cases, two steps (and "all"), class 1 only moves."""
    rows = []
    for case in ("c1", "c2"):
        for step in ("1", "2", "all"):
            scale = 2 if step == "all" else 1
            for index, name in enumerate(["background", *CLASSES]):
                moving = index == 1
                f, b = (fixed * scale, broken * scale) if moving else (0, 0)
                rows.append({"dataset": "synapse", "backbone": "unet", "variant": "morse", "seed": 0,
                             "case": case, "step": step, "class": name, "class_index": index,
                             "overwritten": 100 * scale, "coarse_correct": 50 * scale + b,
                             "refined_correct": 50 * scale + f, "fixed": f, "broken": b,
                             "wrong_to_wrong": 50 * scale - f})  # fmt: skip
    pd.DataFrame(rows, columns=REFINEMENT_COLUMNS).to_csv(root / "refinement.csv", index=False)


def _edit_run(root: Path, variant: str, **fields: object) -> None:
    path = root / "synapse" / "unet" / variant / "seed0" / "run.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _report(tmp_path: Path, fixed: int, broken: int, mdd: bool = True, plateau: bool | None = None) -> str:
    root = make_results(tmp_path / "results", classes=CLASSES)
    _refinement(root, fixed, broken)
    if plateau is not None:
        _edit_run(root, "morse", point_loss_plateau={"converged": plateau, "relative_change": 0.01,
                                                     "relative_change_se": 0.04, "threshold": 0.05})
    comparisons = pd.read_csv(root / "comparisons.csv")
    # the fixture's p-values (0.031, ...) need more than its 2 cases (a two-sided Wilcoxon test
    # reaches p < 0.05 from 6) and a rank effect with the difference's sign: the verdict reads both
    comparisons["n_cases"] = 8
    comparisons["effect_size"] = 0.5 * np.sign(comparisons["mean_difference"])
    worse = (comparisons["metric"] == "hd95_mm") & (comparisons["output"] == "refined")
    comparisons.loc[worse, ["p_value", "p_holm"]] = [0.01, 0.04]  # "reference" better needs p_holm < 0.05
    comparisons.to_csv(root / "comparisons.csv", index=False)
    if mdd:
        comparisons["min_detectable_difference"] = [0.04567, 0.05, 1.234, 2.0]
        comparisons["mdd_alpha"] = [0.025, 0.05, 0.025, 0.05]
        comparisons.to_csv(root / "comparisons.csv", index=False)
    judge(root)  # the compare step judges the heads
    out = tmp_path / "out"
    return build_report("exp", root, out / "index.html", out / "figures").read_text(encoding="utf-8")


def _items(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", li) for li in re.findall(r"<li>(.*?)</li>", html, re.S)]


def test_under_trained_head_refined_output_gets_no_verdict(tmp_path: Path) -> None:
    html = _report(tmp_path, fixed=3, broken=10)
    head = section(html, "head")
    assert f"<strong>{UNDER_TRAINED_SENTENCE}</strong>" in head
    assert "broke 40 correct coarse labels and fixed 12" in head  # "all": 2 cases x 2 x (10, 3)
    assert "no head" in head  # the baseline row
    verdict = section(html, "verdict")
    refined = [s for s in _items(verdict) if "[refined]" in s]
    coarse = [s for s in _items(verdict) if "[coarse]" in s]
    assert len(refined) == 1 and UNDER_TRAINED_SENTENCE in refined[0]
    assert "baseline better" not in refined[0] and "morse better" not in refined[0]
    assert "morse better" in coarse[0]  # hd95 coarse still judged: only the refined output is flagged
    assert "baseline better" not in verdict.split("<table")[0]
    # the verdict table's refined rows name no side either
    table = verdict[verdict.index("<table"):]
    assert table.count("not evidence (under-trained head)") == 2
    gain = section(html, "gain-source")
    assert UNDER_TRAINED_SENTENCE in gain
    assert "its refined output is better" not in gain and "its refined output is worse" not in gain
    assert "coarse output is better than the baseline" in gain  # HD95 coarse, p_holm 0.0312


def test_a_converged_head_that_breaks_more_is_evidence_not_under_training(tmp_path: Path) -> None:
    """Broken > fixed with the point loss on its plateau: named as such, and its refined output
    keeps its verdicts; the same counts with a loss still falling stay under-trained."""
    html = _report(tmp_path / "converged", fixed=3, broken=10, plateau=True)
    head = section(html, "head")
    assert HURTS_CONVERGED in head and UNDER_TRAINED_SENTENCE not in html
    assert "the head is trained, and at this setting refinement does not help" in head
    refined = next(s for s in _items(section(html, "verdict")) if "[refined]" in s)
    assert "baseline better" in refined  # judged like any output
    html = _report(tmp_path / "falling", fixed=3, broken=10, plateau=False)
    assert f"<strong>{UNDER_TRAINED_SENTENCE}</strong>" in section(html, "head")
    assert HURTS_CONVERGED not in html


def test_trained_head_keeps_its_verdicts(tmp_path: Path) -> None:
    html = _report(tmp_path, fixed=10, broken=3)
    head = section(html, "head")
    assert "fixes at least as much as it breaks" in head and UNDER_TRAINED_SENTENCE not in head
    verdict = section(html, "verdict")
    refined = next(s for s in _items(verdict) if "[refined]" in s)
    assert "baseline better" in refined and "morse better" in refined  # HD95 / Dice as compared
    assert UNDER_TRAINED_SENTENCE not in html
    # per step and all: steps 1 and 2 (one per case pair) and "all steps"
    rows = re.findall(r"<tr>\s*<td>synapse</td>\s*<td>unet</td>\s*<td>morse</td>\s*<td>([^<]+)</td>", head)
    assert rows == ["1", "2", "all steps"]
    # step 1 pools 3 classes x 100 pixels per case: coarse (50 + 53 + 50) / 300 = 51.0 %, refined
    # (50 + 60 + 50) / 300 = 53.3 %; every case changes by 7 / 300 = +0.023 (CI of equal values)
    step1 = head[head.index("<td>1</td>"):head.index("<td>2</td>")]
    assert "51.0 %" in step1 and "53.3 %" in step1 and "+0.023 [+0.023, +0.023]" in step1


def test_minimum_detectable_difference_beside_each_verdict(tmp_path: Path) -> None:
    html = _report(tmp_path, fixed=10, broken=3)
    verdict = section(html, "verdict")
    assert "this experiment could have detected differences of at least 0.046 Dice" in verdict
    assert "at least 1.23 mm HD95 (80 % power at Holm level 0.025)" in verdict
    assert "min. detectable difference" in verdict and "<td>2.00</td>" in verdict
    html = _report(tmp_path / "old", fixed=10, broken=3, mdd=False)
    assert "smallest detectable difference could not be estimated" in section(html, "verdict")


def test_without_refinement_csv_the_section_says_not_computed(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results", classes=CLASSES)
    html = build_report("exp", root, tmp_path / "o.html", tmp_path / "f").read_text()
    assert "not computed (no refinement.csv" in section(html, "head")
    assert UNDER_TRAINED_SENTENCE not in html


def test_plateau_machines_and_preparation(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results", classes=CLASSES)
    _refinement(root, fixed=10, broken=3)
    plateau = {"converged": False, "relative_change": 0.12, "relative_change_se": 0.03,
               "end_loss": 0.4321, "n_rows": 7, "threshold": 0.05}  # fmt: skip
    prep = {"intensity_text": "min-max to [0, 1] per image", "spacing": "1 mm per pixel assumed"}
    _edit_run(root, "morse", point_loss_plateau=plateau, data={"name": "synapse", "preparation": prep},
              machine={"cpu_model": "Xeon A", "cpu_capability": "AVX2", "blas": "mkl", "torch": "2.13.0"})
    _edit_run(root, "baseline", point_loss_plateau=None,
              machine={"cpu_model": "EPYC B", "cpu_capability": "AVX512", "blas": "mkl", "torch": "2.13.0"})
    judge(root)
    html = build_report("exp", root, tmp_path / "o.html", tmp_path / "f").read_text()
    head = section(html, "head")
    assert re.search(r"<td>morse</td>\s*<td>0</td>\s*<td>no</td>\s*<td>\+12\.0 % ± 3\.0 %</td>", head)
    assert not re.search(r"<td>baseline</td>\s*<td>0</td>", head) and "0.4321" in head
    assert "coarse logits&#39; loss" in head  # the training figure sits in this section
    provenance = section(html, "provenance")
    assert "2 different machines" in provenance and "Xeon A" in provenance and "EPYC B" in provenance
    what = section(html, "what-ran")
    assert "min-max to [0, 1] per image" in what and "1 mm per pixel assumed" in what
    _edit_run(root, "baseline", machine={"cpu_model": "Xeon A", "cpu_capability": "AVX2", "blas": "mkl",
                                         "torch": "2.13.0"})  # fmt: skip
    html = build_report("exp", root, tmp_path / "o.html", tmp_path / "f").read_text()
    assert "All runs come from one machine" in section(html, "provenance")


def test_dataset_record_carries_the_preparation(tmp_path: Path) -> None:
    info = SimpleNamespace(name="d", class_names=["bg", "x"], preparation={"spacing": "1 mm per pixel assumed"})
    record = dataset_record(info, tmp_path)
    assert record["preparation"] == {"spacing": "1 mm per pixel assumed"}
    assert record["name"] == "d"


def test_nsd_and_boundary_iou_reach_the_verdict_summary_and_ablations(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results", classes=CLASSES, extras=True)
    comparisons = pd.read_csv(root / "comparisons.csv")
    extra = comparisons[comparisons["metric"] == "dice"].assign(metric="nsd")
    pd.concat([comparisons, extra, extra.assign(metric="boundary_iou")]).to_csv(root / "comparisons.csv", index=False)
    summary = pd.read_csv(root / "summary.csv")
    pd.concat([summary, summary[summary["metric"] == "dice"].assign(metric="boundary_iou")]).to_csv(
        root / "summary.csv", index=False)  # fmt: skip
    html = build_report("exp", root, tmp_path / "o.html", tmp_path / "f").read_text()
    verdict = section(html, "verdict")
    assert "NSD (higher is better)" in verdict and "Boundary IoU (higher is better)" in verdict
    sentence = next(s for s in _items(verdict) if "[coarse]" in s)
    assert sentence.index("Dice:") < sentence.index("HD95 (mm):") < sentence.index("NSD:") < sentence.index(
        "Boundary IoU:")  # headline order, not alphabetical
    assert "<summary>Boundary IoU</summary>" in section(html, "per-class")  # a collapsible table
    ablations = section(html, "ablations")
    assert "mean NSD [95% CI]" in ablations and "mean Boundary IoU [95% CI]" in ablations
