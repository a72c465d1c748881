"""Tests of morse.analysis.report (build_report and its parts) on a small synthetic results folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_frames import make_runs, metric_frame, numbered

from morse.analysis.report import PHANTOM_WARNING
from morse.analysis.report import build_report as _build_report
from morse.analysis.report.provenance import head_table, label_names
from morse.analysis.report.wording import gain_sections, significance

REPO = Path(__file__).resolve().parents[2]
REFERENCES = REPO / "config" / "reference_results.csv"
SYNAPSE = ["aorta", "gallbladder", "kidney_left", "kidney_right"]


def run_files(root: Path) -> tuple[list[Path], list[Path]]:
    """The run.json files of a results folder: variant runs, pretraining runs (what the report
    rule passes; the tests know their folders, the report never globs)."""
    found = sorted(root.glob("*/*/*/seed*/run.json"))
    return ([p for p in found if p.parts[-3] != "pretrain"],
            [p for p in found if p.parts[-3] == "pretrain"])  # fmt: skip


def build_report(experiment: str, root: Path, out: Path, figures: Path, *args, **kwargs) -> Path:  # noqa: ANN002, ANN003
    runs, pretrain = run_files(root)
    return _build_report(experiment, root, out, figures, runs, pretrain, *args, **kwargs)


def make_results(
    root: Path,
    dataset: str = "synapse",
    classes: list[str] | None = None,
    size: int = 24,
    extras: bool = False,
) -> Path:
    """results/<experiment> with the four tables and two runs (baseline, morse), one seed.

    ``extras`` adds an ablation variant (its run.json records the ablation point), a
    refined-vs-coarse comparison, a backbone pretraining run folder (two-stage protocol) and
    boundary.csv.
    """
    classes = classes or SYNAPSE
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arms = {"baseline": ["coarse"], "morse": ["coarse", "refined"]}
    if extras:
        arms["morse-num_points-512"] = ["coarse", "refined"]

    def scores(*_: object) -> dict:
        dice = float(rng.uniform(0.5, 0.9))
        return {"dice": dice, "hd95_mm": 5.0, "hd95_vox": 4.0, "dice_authors": dice,
                "hd95_vox_authors": 4.0, "hd95_mm_monai": 5.0, "nsd": dice, "boundary_iou": dice / 2,
                "empty_reference": False, "empty_prediction": False}

    metrics = metric_frame(arms, scores, classes=numbered(classes), dataset=dataset)
    metrics.to_csv(root / "metrics.csv", index=False)

    summary_rows = []
    for (variant, output), group in metrics.groupby(["variant", "output"]):
        for metric in ("dice", "hd95_mm", "hd95_vox", "dice_authors", "hd95_vox_authors"):
            per_class = group.groupby("class")[metric].mean()
            for name, value in [*per_class.items(), ("mean", per_class.mean())]:
                summary_rows.append(
                    {
                        "dataset": dataset,
                        "backbone": "unet",
                        "variant": variant,
                        "output": output,
                        "class": name,
                        "metric": metric,
                        "mean": value,
                        "std": 0.0123 if metric == "dice" else np.nan,
                        "n_seeds": 1,
                        "n_cases": 2,
                    }
                )
    summary = pd.DataFrame(summary_rows)
    # a known value to look for in the published table: baseline mean Dice 0.7 -> "70.00"
    pick = (
        (summary.variant == "baseline") & (summary["class"] == "mean") & (summary.metric == "dice")
    )
    summary.loc[pick, "mean"] = 0.7
    summary.to_csv(root / "summary.csv", index=False)

    comparisons = pd.DataFrame(
        [
            {
                "dataset": dataset,
                "backbone": "unet",
                "metric": metric,
                "variant": "morse",
                "output": output,
                "reference_variant": "baseline",
                "reference_output": "coarse",
                "comparison": f"morse:{output} - baseline:coarse",
                "n_cases": 2,
                "n_seeds": 1,
                "mean_reference": ref,
                "mean_variant": var,
                "mean_difference": diff,
                "ci_low": low,
                "ci_high": high,
                "p_value": p,
                "p_holm": ph,
                "effect_size": 0.5,
                "effect_size_name": "cohen_dz",
                "seed_sd": 0.001,
                "better": better,
            }
            for metric, output, ref, var, diff, low, high, p, ph, better in [
                (
                    "dice",
                    "coarse",
                    0.7,
                    0.7123,
                    0.01234,
                    -0.00321,
                    0.02789,
                    0.02,
                    0.0412,
                    "no difference",
                ),
                (
                    "dice",
                    "refined",
                    0.7,
                    0.7456,
                    0.04567,
                    0.01111,
                    0.08022,
                    0.0001,
                    0.0004,
                    "variant",
                ),
                ("hd95_mm", "coarse", 9.0, 7.5, -1.5, -2.75, -0.25, 0.01, 0.0312, "variant"),
                ("hd95_mm", "refined", 9.0, 9.9, 0.9, 0.1, 1.7, 0.2, 0.4, "reference"),
            ]
        ]
    )
    if extras:
        refine = comparisons.iloc[[1]].assign(
            reference_variant="morse",
            mean_reference=0.7123,
            mean_difference=0.03333,
            ci_low=-0.004,
            ci_high=0.071,
            p_holm=0.09,
            better="no difference",
        )
        comparisons = pd.concat([comparisons, refine], ignore_index=True)
    comparisons.to_csv(root / "comparisons.csv", index=False)

    empty = metrics.groupby(["dataset", "backbone", "variant", "output", "class"], as_index=False)[
        ["empty_reference", "empty_prediction"]
    ].sum()
    empty["both_empty"] = 0
    empty.loc[0, "empty_prediction"] = 3
    empty.to_csv(root / "empty_counts.csv", index=False)

    if extras:
        pretrain = root / dataset / "unet" / "pretrain" / "seed0"
        pretrain.mkdir(parents=True)
        (pretrain / "run.json").write_text(
            json.dumps(
                {
                    "dataset": dataset,
                    "backbone": "unet",
                    "variant": "pretrain",
                    "seed": 0,
                    "train": {"iterations": 300},
                    "protocol": "two_stage",
                    "wall_time_s": 99.5,
                }
            )
        )
        pd.DataFrame(
            [
                {
                    "dataset": dataset,
                    "backbone": "unet",
                    "variant": variant,
                    "seed": 0,
                    "output": output,
                    "case": case,
                    "distance_mm": distance,
                    "n_voxels": 100,
                    "n_errors": errors,
                }
                for variant, output in (("baseline", "coarse"), ("morse", "refined"))
                for case in ("c1", "c2")
                for distance, errors in ((0.5, 30), (1.5, 5))
            ]
        ).to_csv(root / "boundary.csv", index=False)

    label = np.zeros((size, size), np.uint8)
    label[4:12, 4:12] = 1
    for variant in arms:
        run = root / dataset / "unet" / variant / "seed0"
        run.mkdir(parents=True)
        ablation = {"base": "morse", "knob": "num_points", "value": 512}
        (run / "run.json").write_text(
            json.dumps(
                {
                    "experiment": "exp",
                    "dataset": dataset,
                    "backbone": "unet",
                    "variant": variant,
                    "seed": 0,
                    **({"ablation": ablation} if variant == "morse-num_points-512" else {}),
                    "head": {
                        "expert_width": 256,
                        "fusion": "dense",
                        "head_type": "implicit",
                        "num_points": 512 if variant == "morse-num_points-512" else 2048,
                    },
                    "train": {
                        "iterations": 20,
                        "batch_size": 4,
                        "patch_size": [64, 64],
                        "lr": 0.01,
                    },
                    "device": "cpu",
                    "wall_time_s": 12.5,
                    # the ablation variant is not timed: it stays out of the cost table
                    **({} if variant == "morse-num_points-512" else {"iterations_per_s": 1.6}),
                    "git_commit": "abc1234",
                    "versions": {"torch": "2.13.0"},
                    "protocol": "two-stage",
                }
            )
        )
        pd.DataFrame(
            {
                "iteration": [0, 10],
                "loss": [1.0, 0.5],
                "coarse_loss": [1.0, 0.5],
                "point_loss": [np.nan, np.nan],
                "point_weight": [0, 0],
                "lr": [0.01, 0.01],
                "seconds": [0, 1],
            }
        ).to_csv(run / "train_log.csv", index=False)
        pred = label.copy()
        if variant == "baseline":
            pred[4:12, 10:12] = 0
        np.savez(
            run / "qualitative.npz",
            image=np.zeros((size, size), np.float32),
            label=label,
            pred_coarse=pred,
            pred_refined=pred,
            points=np.zeros((0, 2), np.float32),
            case="c1",
            slice=0,
        )
    return root


@pytest.fixture(scope="module")
def synapse_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = make_results(tmp_path_factory.mktemp("results"), extras=True)
    out = root.parent / "report" / "index.html"
    path = build_report(
        "exp",
        root,
        out,
        root.parent / "report" / "figures",
        REFERENCES,
        config={"experiment": "exp", "seeds": [0]},
    )
    return path, path.read_text(encoding="utf-8")


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S)
    assert match, section_id
    return match.group(1)


def test_report_is_complete_and_atomic(synapse_report: tuple[Path, str]) -> None:
    path, html = synapse_report
    assert path.exists() and html.rstrip().endswith("</html>")
    assert [p.name for p in path.parent.iterdir() if p.is_file()] == ["index.html"]
    assert not list(path.parent.rglob("*.tmp"))
    assert (path.parent / "figures" / "per_class_scores.svg").exists()


def test_report_is_self_contained(synapse_report: tuple[Path, str]) -> None:
    _, html = synapse_report
    assert (
        html.count('src="data:image/png;base64,') >= 4
    )  # per-class, paired, qualitative, training
    assert "<script" not in html.lower()
    assert not re.search(r'<link[^>]+href=|src="http', html)


def test_verdict_numbers_are_formatted(synapse_report: tuple[Path, str]) -> None:
    verdict = _section(synapse_report[1], "verdict")
    assert "+0.046 [+0.011, +0.080]" in verdict  # Dice refined, 3 decimals
    assert "+0.012 [-0.003, +0.028]" in verdict  # Dice coarse
    assert "-1.50 [-2.75, -0.25]" in verdict  # HD95, 2 decimals
    assert "0.041" in verdict and "&lt;0.001" in verdict and "0.400" in verdict  # p_holm
    assert "coarse (backbone logits" in verdict and "refined (point-rendered" in verdict
    # 'better' is spelled out with the variant names
    assert re.search(r"<td>baseline</td>\s*</tr>", verdict)


def test_summary_shows_mean_and_sd(synapse_report: tuple[Path, str]) -> None:
    summary = _section(synapse_report[1], "per-class")
    assert "0.700 ± 0.012" in summary  # baseline mean Dice, SD over seeds


def test_authors_reference_values_for_synapse_unet(synapse_report: tuple[Path, str]) -> None:
    published = _section(synapse_report[1], "published")
    for value in ("76.16", "37.37", "10.65", "86.99", "60.43", "79.62", "74.75", "76.85", "39.70"):
        assert f"<td>{value}</td>" in published, value
    assert "authors' code comments" in published
    assert "<td>70.00</td>" in published  # our mean Dice 0.7 shown in %
    # refined rows and ASD have no published counterpart / no value of ours
    assert "not available" in published
    # transunet-only numbers must not be matched to a unet run
    assert "TransUNet paper" not in published


def test_not_available_and_phantom_warning(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results", dataset="phantom2d", classes=["disk", "ring"])
    html = build_report(
        "ph", root, tmp_path / "out" / "index.html", tmp_path / "out" / "fig", REFERENCES
    ).read_text()
    assert PHANTOM_WARNING.replace("'", "&#39;") in html
    published = _section(html, "published")
    assert "not available" in published and "76.16" not in published
    # no boundary.csv, no ablation variants, no pretraining run
    assert "not computed" in _section(html, "boundary")
    assert "<img" not in _section(html, "boundary")
    assert "No ablation variants" in _section(html, "ablations")
    assert not (tmp_path / "out" / "fig" / "ablations.png").exists()
    assert "two-stage: backbone pretrained (pretraining run not found), then each variant 20 " in (
        html
    )


def test_no_phantom_warning_for_real_dataset(synapse_report: tuple[Path, str]) -> None:
    assert "phantom data" not in synapse_report[1]


def test_class_names_are_escaped(tmp_path: Path) -> None:
    root = make_results(
        tmp_path / "results", dataset="synapse", classes=["<script>alert(1)</script>", "liver"]
    )
    html = build_report("x", root, tmp_path / "o" / "r.html", tmp_path / "o" / "f").read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_missing_table_is_an_error(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results")
    (root / "comparisons.csv").unlink()
    out = tmp_path / "o" / "r.html"
    with pytest.raises(FileNotFoundError, match="comparisons.csv"):
        build_report("x", root, out, tmp_path / "o" / "f")
    assert not out.exists()


def test_label_names_skip_regions_and_follow_label_values() -> None:
    metrics = pd.DataFrame(
        {"class": ["WT", "edema", "enhancing", "TC"], "class_index": [-1, 1, 3, -1]}
    )
    assert label_names(metrics) == ["edema", "label 2", "enhancing"]


def _gain_rows(p_coarse: float, p_refinement: float) -> pd.DataFrame:
    base = {
        "dataset": "synapse",
        "backbone": "unet",
        "metric": "dice",
        "variant": "morse",
        "n_cases": 12,
        "n_seeds": 3,
        "p_value": 0.01,
        "effect_size": -0.4,
        "effect_size_name": "r",
        "seed_sd": 0.01,
        "better": "no difference",
    }
    return pd.DataFrame(
        [
            {**base, "output": "coarse", "reference_variant": "baseline",
             "reference_output": "coarse", "mean_reference": 0.80, "mean_variant": 0.771,
             "mean_difference": -0.029, "ci_low": -0.044, "ci_high": -0.015,
             "p_holm": p_coarse},
            {**base, "output": "refined", "reference_variant": "morse",
             "reference_output": "coarse", "mean_reference": 0.771, "mean_variant": 0.79,
             "mean_difference": 0.019, "ci_low": 0.008, "ci_high": 0.03,
             "p_holm": p_refinement},
        ]
    )  # fmt: skip


def test_gain_sentence_follows_p_holm() -> None:
    [section] = gain_sections(_gain_rows(0.09, 0.001))
    assert section["title"] == "synapse / unet: morse"
    [sentence] = section["sentences"]
    text = sentence["text"]
    assert sentence["metric"] == "Dice"
    assert text.startswith(
        "MORSE's coarse output is worse than the baseline by 0.029 Dice "
        "[95% CI -0.044, -0.015], p_holm 0.090: not significant at 0.05; "
    )
    assert text.endswith(
        "refinement improves on its own coarse output by 0.019 Dice [95% CI +0.008, +0.030], "
        "p_holm 0.001: significant at 0.05."
    )
    # swap the p-values: the wording follows
    [section] = gain_sections(_gain_rows(0.001, 0.09))
    text = section["sentences"][0]["text"]
    assert "p_holm 0.001: significant at 0.05; refinement" in text
    assert text.endswith("p_holm 0.090: not significant at 0.05.")
    # never 'significant' at exactly 0.05
    assert significance(0.05) == "p_holm 0.050: not significant at 0.05"


def test_gain_section_in_report(synapse_report: tuple[Path, str]) -> None:
    gain = _section(synapse_report[1], "gain-source")
    assert "synapse / unet: morse" in gain
    # coarse vs baseline (p_holm 0.0412), refined vs own coarse (0.09)
    assert "MORSE&#39;s coarse output is better than the baseline by 0.012 Dice" in gain
    assert "p_holm 0.041: significant at 0.05" in gain
    assert (
        "refinement improves on its own coarse output by 0.033 Dice [95% CI -0.004, +0.071], "
        "p_holm 0.090: not significant at 0.05" in gain
    )
    assert "HD95 (mm):" in gain
    # ablation variants are left to their own section
    assert "morse-num_points-512" not in gain


def test_protocol_and_pretrain_runs(synapse_report: tuple[Path, str], tmp_path: Path) -> None:
    html = synapse_report[1]
    header = re.search(r'<div class="protocol" id="protocol">(.*?)</div>', html, re.S)
    assert header
    assert "two-stage: backbone pretrained 300 iterations, then each variant 20 more" in (
        header.group(1)
    )
    what_ran = _section(html, "what-ran")
    variants = re.search(r"<dt>Variants</dt><dd>(.*?)</dd>", what_ran).group(1)
    assert "pretrain" not in variants and "morse" in variants
    assert "3 variant runs" in what_ran and "1 backbone pretraining run" in what_ran
    runtime = _section(html, "runtime")
    assert "<td>pretrain</td>" in runtime and "99.5" in runtime


def test_ablation_and_boundary_sections(synapse_report: tuple[Path, str]) -> None:
    path, html = synapse_report
    ablations = _section(html, "ablations")
    assert 'src="data:image/png;base64,' in ablations
    assert (path.parent / "figures" / "ablations.png").exists()
    # knob, value (the base variant at run.json's 2048), variant, both metrics, n
    assert "<td>num_points</td>" in ablations and "<td>512</td>" in ablations
    assert "<td>2048 (base)</td>" in ablations and "<td>morse-num_points-512</td>" in ablations
    assert "mean Dice [95% CI]" in ablations and "mean HD95 (mm) [95% CI]" in ablations
    assert "<td>2 × 1</td>" in ablations
    boundary = _section(html, "boundary")
    assert 'src="data:image/png;base64,' in boundary and "not computed" not in boundary
    assert "boundary.csv" in _section(html, "provenance")


def test_runtime_section_has_cost_table(synapse_report: tuple[Path, str]) -> None:
    path, html = synapse_report
    runtime = _section(html, "runtime")
    assert "Cost against accuracy" in runtime
    assert 'src="data:image/png;base64,' in runtime
    assert (path.parent / "figures" / "cost_accuracy.png").exists()
    assert "timings come from the training runs themselves" in runtime
    assert "measured on: cpu." in runtime  # the devices the runs record, not a fixed word
    table = runtime[runtime.index("<th>s/iteration</th>") - 400 :]
    for header in ("variant", "output", "s/iteration", "Dice", "HD95 (mm)", "on the front"):
        assert f"<th>{header}</th>" in table
    # both timed runs record 1.6 it/s -> 0.625 s per iteration; the ablation variant records
    # no timing: it is not in the cost table
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("</table>")[0], re.S)
    cells = [re.findall(r"<td>(.*?)</td>", r) for r in rows if "<td>" in r]
    assert [c[2:4] for c in cells] == [["baseline", "coarse"], ["morse", "coarse"],
                                       ["morse", "refined"]]  # fmt: skip
    assert all(c[4] == "0.6250" for c in cells)
    # all at the same cost: the front is the single point with the best Dice
    best = max(range(len(cells)), key=lambda i: float(cells[i][6]))
    assert [c[-1] for c in cells] == ["yes" if i == best else "no" for i in range(len(cells))]
    assert "morse-num_points-512" not in table


def test_head_table_hides_the_bare_backbones_unused_head_settings() -> None:
    runs = make_runs([
        {"dataset": "d", "backbone": "unet", "variant": "baseline",
         "head": {"head_type": "none", "fusion": "none", "expert_width": 256, "num_points": 2048}},
        {"dataset": "d", "backbone": "unet", "variant": "morse",
         "head": {"head_type": "implicit", "fusion": "dense", "expert_width": 32, "num_points": 288}},
    ])  # fmt: skip
    table = head_table(runs).set_index("variant")
    assert table.loc["baseline", "head_type"] == "none"
    assert (table.loc["baseline", ["fusion", "expert_width", "num_points"]] == "–").all()
    assert table.loc["morse", "expert_width"] == 32 and table.loc["morse", "num_points"] == 288
