"""The report opens with the answer: experiment line, verdict matrix, reading; the forest plot;
verdicts.json and the index of experiments; the page fits 1280 px (headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import browser
import pandas as pd
import pytest
from fake_results import build_report, make_results, section

from morse.analysis.plots.forest import forest_figure, forest_rows
from morse.analysis.report.index import build_index
from morse.analysis.stats import paired_comparisons
from morse.analysis.verdicts import STATES


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """The report of a fake phantom2d experiment: its path, its HTML and the results folder."""
    root = make_results(tmp_path_factory.mktemp("results"), dataset="phantom2d", extras=True)
    out = root.parent / "reports" / "exp" / "index.html"
    path = build_report("exp", root, out, out.parent / "figures", config={"experiment": "exp"})
    return path, path.read_text(encoding="utf-8"), root


def test_the_first_section_is_the_answer(report: tuple[Path, str, Path]) -> None:
    _, html, _ = report
    body = html.split("<body>", 1)[1]
    assert re.findall(r'<section id="([^"]+)"', body)[:3] == ["answer", "forest", "ranks"]
    header = body.split('<section id="answer">', 1)[0]
    # before it: only the title, the experiment in one line and the phantom warning
    line = re.search(r'<p class="line" id="experiment-line">([^<]*)</p>', header).group(1)
    assert line == "phantom2d / unet (2 test cases) · budget (iterations, pretrain + per variant): 300 + 20 · seeds: 0"
    assert 'id="phantom-warning"' in header and "<table" not in header and "<nav" not in header
    answer = section(html, "answer")
    matrix = answer.split('<table class="matrix">', 1)[1].split("</table>", 1)[0]
    assert "<th>phantom2d / unet<small>2 cases × 1 seed(s)</small></th>" in matrix
    rows = re.findall(r"<tr>(.*?)</tr>", matrix, re.S)[1:]
    assert len(rows) == 10  # 9 claims, the boundary claim on two metrics
    # 2 paired cases: no test can reach p < 0.05, so the claims whose comparison ran are "not
    # evidence", with the effect and its CI; those that did not run (comparisons.csv has Dice and
    # HD95 of morse vs baseline only) say why
    dice = next(r for r in rows if "Dice, coarse output" in r)
    assert 'class="cell st-not-evidence"' in dice and "+0.012" in dice and "[-0.003, +0.028]" in dice
    assert "too few cases for a test: 2 paired case(s)" in dice
    pointrend = next(r for r in rows if "Beats PointRend" in r)
    assert "st-not-run" in pointrend and "variant &#39;pointrend&#39; is not configured" in pointrend
    assert 'rowspan="2"' in next(r for r in rows if "Sharper boundaries" in r)
    for state in STATES:  # the legend names every state
        assert f'<span class="sym st-{state.replace(" ", "-")}">' in answer
    reading = re.search(r'<p class="reading" id="reading">(.*?)</p>', answer, re.S).group(1)
    assert "Of 10 claim × metric × setting cells: 3 not evidence, 7 not run." in reading
    assert "Phantom data" in reading


def test_the_answer_cells_read_verdicts_csv(report: tuple[Path, str, Path], tmp_path: Path) -> None:
    _, _, root = report
    verdicts = pd.read_csv(root / "verdicts.csv")
    verdicts.loc[verdicts["claim"] == "dice_coarse", ["state", "reason"]] = ["supported", "by hand"]
    copy = tmp_path / "results"
    shutil.copytree(root, copy)
    verdicts.to_csv(copy / "verdicts.csv", index=False)
    html = build_report("exp", copy, tmp_path / "r" / "index.html", tmp_path / "r" / "figures").read_text()
    dice = next(r for r in re.findall(r"<tr>(.*?)</tr>", section(html, "answer"), re.S) if "Dice, coarse" in r)
    assert 'class="cell st-supported" title="supported: by hand; 2 cases × 1 seed(s)"' in dice
    assert "1 supported" in section(html, "answer") and "Supported: Dice, coarse output (phantom2d / unet)" in html


def test_long_tables_are_collapsed_and_labels_do_not_repeat(report: tuple[Path, str, Path]) -> None:
    _, html, _ = report
    verdict = section(html, "verdict")
    assert "<details><summary>Every comparison of the headline metrics" in verdict
    table = verdict.split("<table", 1)[1]
    assert "backbone logits" not in table and "rank-biserial correlation" not in table  # in the legend only
    assert "<th>rank-biserial r</th>" in table
    what_ran = section(html, "what-ran")
    # the head settings are transposed: one column per dataset / backbone / variant
    assert "<th>phantom2d / unet / morse</th>" in what_ran and "<td>expert_width</td>" in what_ran


def test_report_writes_its_summary_and_the_index_lists_every_experiment(report: tuple[Path, str, Path],
                                                                        tmp_path: Path) -> None:  # fmt: skip
    path, _, _ = report
    summary = json.loads((path.parent / "verdicts.json").read_text())
    assert summary["experiment"] == "exp" and summary["phantoms"] == ["phantom2d"]
    assert summary["counts"] == {"not evidence": 3, "not run": 7}
    assert [c["label"] for c in summary["matrix"]["columns"]] == ["phantom2d / unet"]
    reports = tmp_path / "reports"
    shutil.copytree(path.parent, reports / "exp", ignore=shutil.ignore_patterns("figures"))
    (reports / "broken").mkdir()
    (reports / "broken" / "verdicts.json").write_text("{not json")
    (reports / "old").mkdir()
    (reports / "old" / "index.html").write_text("<html></html>")
    (reports / "empty-folder").mkdir()
    index = build_index(reports).read_text()
    assert index.count('<section class="experiment"') == 3  # exp, broken, old; not the empty folder
    exp = index.split('id="exp-exp"', 1)[1].split("</section>", 1)[0]
    assert '<a href="exp/index.html">exp</a>' in exp and '<table class="matrix small">' in exp
    assert exp.count("st-not-run") == 7 and "phantom data" in exp
    assert "verdicts.json unreadable" in index and "no verdicts.json: a report made before" in index
    assert [p.name for p in reports.iterdir() if p.is_file()] == ["index.html"]  # atomic, nothing left


def test_the_forest_plot_has_one_row_per_comparison() -> None:
    from fake_results import metric_frame, numbered

    arms = {"baseline": ["coarse"], "pointrend": ["coarse", "refined"], "morse": ["coarse", "refined"]}
    metrics = metric_frame(arms, lambda v, o, s, c, i: {"dice": 0.5 + 0.01 * c + (0.02 if o == "refined" else 0),
                                                        "hd95_mm": 4.0 - c},
                           classes=numbered(["a"]), cases=[f"c{i}" for i in range(7)])  # fmt: skip
    comparisons = paired_comparisons(metrics, metrics_to_compare=["dice", "hd95_mm"], n_resamples=200,
                                     extra_pairs=[(("morse", "refined"), ("pointrend", "refined"))])  # fmt: skip
    rows = forest_rows(comparisons)
    assert len(rows) == len(comparisons)
    keys = ["dataset", "backbone", "metric", "comparison"]
    assert sorted(map(tuple, rows[keys].to_numpy())) == sorted(map(tuple, comparisons[keys].to_numpy()))
    # the same comparison sits on the same row of every metric's panel; baseline-referenced first
    assert rows.groupby("row")["y"].nunique().eq(1).all() and rows["y"].nunique() == len(comparisons) // 2
    assert rows.sort_values("y")["row"].iloc[-1] == "phantom2d / unet: morse (refined) vs pointrend (refined)"
    fig, drawn = forest_figure(comparisons)
    plotted = [ax for ax in fig.axes if ax.get_visible()]
    assert len(plotted) == 2  # one panel per metric
    for ax, metric in zip(plotted, ["dice", "hd95_mm"], strict=True):
        points = sum(len(c.lines[0].get_xdata()) for c in ax.containers)
        assert points == (comparisons["metric"] == metric).sum()


@pytest.mark.skipif(browser.CHROMIUM is None, reason=browser.SKIP_REASON)
def test_the_report_fits_1280_px_and_opens_with_the_answer(report: tuple[Path, str, Path], tmp_path: Path) -> None:
    path, _, _ = report
    seen = browser.measure(path, tmp_path)
    assert seen["innerWidth"] == 1280
    assert seen["scrollWidth"] <= 1280 and not seen["wide"], seen
    assert seen["firstSection"] == "answer" and seen["readingBottom"] <= 800, seen  # on the first screen
    index = build_index(path.parents[1])
    seen = browser.measure(index, tmp_path)
    assert seen["scrollWidth"] <= 1280 and not seen["wide"], seen


@pytest.mark.skipif(browser.CHROMIUM is None, reason=browser.SKIP_REASON)
def test_the_width_check_fails_on_a_wide_element(tmp_path: Path) -> None:
    page = tmp_path / "wide.html"
    page.write_text('<html><body><section id="answer"><table><tr><td style="white-space: nowrap">'
                    + "x" * 400 + '</td></tr></table><p id="reading">r</p></section></body></html>')  # fmt: skip
    seen = browser.measure(page, tmp_path)
    assert seen["scrollWidth"] > 1280 and seen["wide"]


def test_the_reading_counts_states_and_names_where_claims_hold() -> None:
    from morse.analysis.report.answer import reading

    rows = [("Dice", f"d{i}", state) for i, state in enumerate(["supported"] * 3 + ["contradicted", "not run"])]
    rows.append(("HD95", "d0", "contradicted"))
    verdicts = pd.DataFrame([{"label": label, "dataset": d, "backbone": "unet", "state": state}
                             for label, d, state in rows])  # fmt: skip
    assert reading(verdicts) == ("Of 6 claim × metric × setting cells: 3 supported, 2 contradicted, 1 not run. "
                                 "Supported: Dice (3 settings). Contradicted: Dice (d3 / unet); HD95 (d0 / unet).")
    assert reading(verdicts, ["phantom2d"]).endswith("Phantom data: this tests the pipeline, not the paper.")
    assert reading(None).startswith("No verdicts: verdicts.csv is not in the results")


def test_the_rank_section_lists_rankings_in_headline_order(report: tuple[Path, str, Path]) -> None:
    _, html, root = report
    ranks = section(html, "ranks")
    table = ranks.split("<table", 1)[1].split("</table>", 1)[0]
    metrics = re.findall(r"<td>phantom2d / unet</td>\s*<td>([^<]+)</td>", table)
    assert metrics == ["Dice", "HD95 (mm)", "NSD", "Boundary IoU"]  # the vocabulary's order, not alphabetical
    stability = pd.read_csv(root / "rank_stability.csv")
    dice = stability[(stability["metric"] == "dice") & (stability["rank"] == 1)].sort_values("full_rank")
    top = dice.iloc[0]
    assert f"1. {top.variant} ({top.output}) {100 * top.share_first:.0f} %" in table
    assert "<summary>Blob plot of the rank distributions</summary>" in ranks and "rank_stability.png" in ranks


def test_the_reading_names_the_regime_of_the_cells_that_ran() -> None:
    from morse.analysis.report.answer import regime_sentence

    rows = pd.DataFrame({
        "state": ["supported", "no detectable effect", "not run", "not evidence"],
        "adequacy": ["adequate", "adequate", "undetermined", "backbone under-trained"],
        "budget_trend": ["closing", "not available", "not available", "widening"],
    })  # fmt: skip
    mixed = regime_sentence(rows)
    assert "2 of the 3 cells that ran passed" in mixed and "1 backbone under-trained" in mixed
    assert "closing in 1, widening in 1" in mixed  # the not-run cell's trend is not counted
    trained = regime_sentence(rows.iloc[:3])
    assert "in all 2 cells that ran, backbone and head passed" in trained and "closing in 1." in trained
    assert regime_sentence(rows.iloc[[2]]) == ""  # nothing ran: nothing to say
