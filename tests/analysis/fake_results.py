"""Fake results for the analysis tests, in the layout the workflow writes them.

:func:`metric_frame` is THE builder of per-case metric rows (the layout of a run's
``metrics.csv`` and of the aggregated ``results/<exp>/metrics.csv``): its metric columns are the
code's own :data:`morse.evaluation.metrics.METRIC_COLUMNS`. :func:`make_results` builds a whole
``results/<experiment>`` folder on it (tables and run folders), :func:`build_report` renders its
report as the report rule would and :func:`section` reads one section of it back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morse.analysis.aggregate import empty_counts, summarise
from morse.analysis.claims import load_claims
from morse.analysis.compare import judge_regime
from morse.analysis.inputs.regime import read_budget_metrics
from morse.analysis.inputs.runs import Run, read_runs
from morse.analysis.inputs.tables import read_comparison_metrics, read_references, read_refinement
from morse.analysis.ranks import rank_stability
from morse.analysis.report import build_report as _build_report
from morse.analysis.verdicts import claim_verdicts, scored_arms
from morse.analysis.vocabulary import higher_is_better
from morse.evaluation.metrics import METRIC_COLUMNS

# scores(variant, output, seed, case_position, class_index) -> the metric values of one row
Scores = Callable[[str, str, int, int, int], Mapping[str, Any]]
EMPTY_FLAGS = ("empty_reference", "empty_prediction")
SYNAPSE = ["aorta", "gallbladder", "kidney_left", "kidney_right"]


def _complete(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every metric column in the evaluation's order: a metric not ``given`` takes the given
    ``dice`` where higher is better and ``hd95_mm`` otherwise; empty-mask flags default False."""
    row = {m: given[m] if m in given else given["dice" if higher_is_better(m) else "hd95_mm"]
           for m in METRIC_COLUMNS}  # fmt: skip
    row.update({flag: given.get(flag, False) for flag in EMPTY_FLAGS})
    return {**row, **{k: v for k, v in given.items() if k not in row}}


def metric_frame(
    arms: Mapping[str, Sequence[str]],
    scores: Scores,
    *,
    classes: Mapping[str, int],
    seeds: Iterable[int] = (0,),
    cases: Sequence[str] = ("c1", "c2"),
    dataset: str = "phantom2d",
    backbone: str = "unet",
    complete: bool = True,
) -> pd.DataFrame:
    """One row per variant x seed x output x case x class (in that nesting, class innermost, so a
    random ``scores`` draws in a fixed order); ``arms`` maps each variant to its scored outputs.

    ``complete`` (default): every row has every metric column the evaluation writes and both
    empty-mask flags; a metric ``scores`` leaves out takes the row's ``dice`` (higher is better)
    or ``hd95_mm`` (a distance), so ``scores`` gives at least those two. ``complete=False``: only
    the columns ``scores`` gives (for tests of what the analysis does with the metrics a frame has).
    """
    fill = _complete if complete else dict
    rows = [
        {
            "dataset": dataset, "backbone": backbone, "variant": variant, "seed": seed,
            "output": output, "case": case, "class": name, "class_index": index,
            **fill(scores(variant, output, seed, position, index)),
        }
        for variant, outputs in arms.items()
        for seed in seeds
        for output in outputs
        for position, case in enumerate(cases)
        for name, index in classes.items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


def numbered(names: Iterable[str]) -> dict[str, int]:
    """Class names -> label indices 1, 2, ... (0 is background)."""
    return {name: index for index, name in enumerate(names, start=1)}


def make_runs(records: Iterable[Mapping[str, Any]], root: Path | None = None) -> list[Run]:
    """Run records from run.json-like dicts (folder ``root/<dataset>/<backbone>/<variant>/seed<k>``)."""
    root = Path(root or ".")
    return [
        Run(dataset=str(r["dataset"]), backbone=str(r["backbone"]), variant=str(r["variant"]),
            seed=int(r.get("seed", 0)), info=dict(r),
            folder=root / str(r["dataset"]) / str(r["backbone"]) / str(r["variant"]) / f"seed{r.get('seed', 0)}")
        for r in records
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# a whole results/<experiment> folder
# ---------------------------------------------------------------------------------------------
ABLATION = "morse-num_points-512"
#: The comparisons table: (metric, output, mean_reference, mean_variant, mean_difference, ci_low,
#: ci_high, p_value, p_holm, better) of morse against baseline (coarse).
COMPARISONS = [
    ("dice", "coarse", 0.7, 0.7123, 0.01234, -0.00321, 0.02789, 0.02, 0.0412, "no difference"),
    ("dice", "refined", 0.7, 0.7456, 0.04567, 0.01111, 0.08022, 0.0001, 0.0004, "variant"),
    ("hd95_mm", "coarse", 9.0, 7.5, -1.5, -2.75, -0.25, 0.01, 0.0312, "variant"),
    ("hd95_mm", "refined", 9.0, 9.9, 0.9, 0.1, 1.7, 0.2, 0.4, "reference"),
]


def _comparisons(dataset: str, extras: bool) -> pd.DataFrame:
    keys = ["metric", "output", "mean_reference", "mean_variant", "mean_difference", "ci_low",
            "ci_high", "p_value", "p_holm", "better"]  # fmt: skip
    comparisons = pd.DataFrame([
        {"dataset": dataset, "backbone": "unet", "metric": row[0], "variant": "morse",
         "output": row[1], "reference_variant": "baseline", "reference_output": "coarse",
         "comparison": f"morse:{row[1]} - baseline:coarse", "n_cases": 2, "n_seeds": 1,
         **dict(zip(keys[2:-1], row[2:-1], strict=True)), "effect_size": 0.5,
         "effect_size_name": "cohen_dz", "seed_sd": 0.001, "better": row[-1]}
        for row in COMPARISONS
    ])  # fmt: skip
    if extras:  # refined against its own coarse output
        refine = comparisons.iloc[[1]].assign(
            reference_variant="morse", mean_reference=0.7123, mean_difference=0.03333,
            ci_low=-0.004, ci_high=0.071, p_holm=0.09, better="no difference")  # fmt: skip
        comparisons = pd.concat([comparisons, refine], ignore_index=True)
    return comparisons


def _boundary(dataset: str) -> pd.DataFrame:
    return pd.DataFrame([
        {"dataset": dataset, "backbone": "unet", "variant": variant, "seed": 0, "output": output,
         "case": case, "distance_mm": distance, "n_voxels": 100, "n_errors": errors}
        for variant, output in (("baseline", "coarse"), ("morse", "refined"))
        for case in ("c1", "c2")
        for distance, errors in ((0.5, 30), (1.5, 5))
    ])  # fmt: skip


def _write_run(root: Path, dataset: str, variant: str, size: int) -> None:
    """run.json, train_log.csv and qualitative.npz of one run (seed 0)."""
    run = root / dataset / "unet" / variant / "seed0"
    run.mkdir(parents=True)
    ablation = {"ablation": {"base": "morse", "knob": "num_points", "value": 512}} if variant == ABLATION else {}
    (run / "run.json").write_text(json.dumps({
        "experiment": "exp", "dataset": dataset, "backbone": "unet", "variant": variant, "seed": 0,
        **ablation,
        "head": {"expert_width": 256, "fusion": "dense", "head_type": "implicit",
                 "num_points": 512 if variant == ABLATION else 2048},
        "train": {"iterations": 20, "batch_size": 4, "patch_size": [64, 64], "lr": 0.01},
        "device": "cpu", "wall_time_s": 12.5,
        # the ablation variant is not timed: it stays out of the cost table
        **({} if variant == ABLATION else {"iterations_per_s": 1.6}),
        "git_commit": "abc1234", "versions": {"torch": "2.13.0"}, "protocol": "two-stage",
    }))  # fmt: skip
    pd.DataFrame({"iteration": [0, 10], "loss": [1.0, 0.5], "coarse_loss": [1.0, 0.5],
                  "point_loss": [np.nan, np.nan], "point_weight": [0, 0], "lr": [0.01, 0.01],
                  "seconds": [0, 1]}).to_csv(run / "train_log.csv", index=False)  # fmt: skip
    label = np.zeros((size, size), np.uint8)
    label[4:12, 4:12] = 1
    pred = label.copy()
    if variant == "baseline":
        pred[4:12, 10:12] = 0
    np.savez(run / "qualitative.npz", image=np.zeros((size, size), np.float32), label=label,
             pred_coarse=pred, pred_refined=pred, points=np.zeros((0, 2), np.float32), case="c1",
             slice=0)  # fmt: skip


def make_results(
    root: Path,
    dataset: str = "synapse",
    classes: list[str] | None = None,
    size: int = 24,
    extras: bool = False,
) -> Path:
    """results/<experiment> with the four tables and two runs (baseline, morse), one seed.

    metrics.csv comes from :func:`metric_frame` (Dice drawn per row, HD95 5 mm / 4 voxels,
    Boundary IoU half the Dice), summary.csv and empty_counts.csv from the aggregate step's own
    functions with known values set (baseline mean Dice 0.700, Dice SD 0.0123 over seeds, one
    empty prediction), comparisons.csv from :data:`COMPARISONS`, verdicts.csv and
    rank_stability.csv from the verdict step's functions. ``extras`` adds an ablation
    variant (its run.json records the ablation point), a refined-vs-coarse comparison, a
    backbone pretraining run folder (two-stage protocol) and boundary.csv.
    """
    classes = classes or SYNAPSE
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arms = {"baseline": ["coarse"], "morse": ["coarse", "refined"]}
    if extras:
        arms[ABLATION] = ["coarse", "refined"]

    def scores(*_: object) -> dict:
        dice = float(rng.uniform(0.5, 0.9))
        return {"dice": dice, "hd95_mm": 5.0, "hd95_vox": 4.0, "hd95_vox_authors": 4.0,
                "boundary_iou": dice / 2}  # fmt: skip

    metrics = metric_frame(arms, scores, classes=numbered(classes), dataset=dataset)
    metrics.to_csv(root / "metrics.csv", index=False)
    summary = summarise(metrics)
    summary.loc[summary.metric == "dice", "std"] = 0.0123
    # a known value to look for in the published table: baseline mean Dice 0.7 -> "70.00"
    summary.loc[(summary.variant == "baseline") & (summary["class"] == "mean")
                & (summary.metric == "dice"), "mean"] = 0.7  # fmt: skip
    summary.to_csv(root / "summary.csv", index=False)
    comparisons = _comparisons(dataset, extras)
    comparisons.to_csv(root / "comparisons.csv", index=False)
    # the verdict step's outputs, from its own functions (the shipped claims registry)
    claim_verdicts(load_claims(), comparisons, scored_arms(metrics)).to_csv(root / "verdicts.csv", index=False)
    rank_stability(metrics, n_resamples=50).to_csv(root / "rank_stability.csv", index=False)
    empty = empty_counts(metrics)
    empty.loc[0, "empty_prediction"] = 3
    empty.to_csv(root / "empty_counts.csv", index=False)
    if extras:
        pretrain = root / dataset / "unet" / "pretrain" / "seed0"
        pretrain.mkdir(parents=True)
        (pretrain / "run.json").write_text(json.dumps({
            "dataset": dataset, "backbone": "unet", "variant": "pretrain", "seed": 0,
            "train": {"iterations": 300}, "protocol": "two_stage", "wall_time_s": 99.5}))  # fmt: skip
        _boundary(dataset).to_csv(root / "boundary.csv", index=False)
    for variant in arms:
        _write_run(root, dataset, variant, size)
    judge(root)
    return root


def judge(root: Path, references: Path | None = None, min_reference_fraction: float = 0.9,
          n_resamples: int = 2000) -> dict[str, pd.DataFrame]:  # fmt: skip
    """What the compare step adds to a results folder, by its own function
    (:func:`morse.analysis.compare.judge_regime`) on the folder's tables and runs, keeping the
    folder's comparisons.csv rows: head_adequacy.csv, backbone_adequacy.csv, the budget tables
    (from budget_metrics.csv where the folder has one) and comparisons.csv's ``adequacy`` and
    ``budget_trend``. Call it again after editing refinement.csv or a run.json."""
    runs, pretrain = run_files(root)
    refinement, budget = root / "refinement.csv", root / "budget_metrics.csv"
    comparisons = pd.read_csv(root / "comparisons.csv").drop(columns=["adequacy", "budget_trend"], errors="ignore")
    tables = judge_regime(comparisons, read_comparison_metrics(root / "metrics.csv"),
                          read_refinement([refinement]) if refinement.exists() else None, read_runs(runs),
                          read_runs(pretrain), read_references(references),
                          read_budget_metrics(budget if budget.exists() else None),
                          min_reference_fraction=min_reference_fraction, n_resamples=n_resamples)  # fmt: skip
    for name, frame in tables.items():
        frame.to_csv(root / name, index=False)
    return tables


# ---------------------------------------------------------------------------------------------
# its report
# ---------------------------------------------------------------------------------------------
def run_files(root: Path) -> tuple[list[Path], list[Path]]:
    """The run.json files of a results folder: variant runs, pretraining runs (what the report
    rule passes; the tests know their folders, the report never globs)."""
    found = sorted(root.glob("*/*/*/seed*/run.json"))
    return ([p for p in found if p.parts[-3] != "pretrain"],
            [p for p in found if p.parts[-3] == "pretrain"])  # fmt: skip


def build_report(experiment: str, root: Path, out: Path, figures: Path, *args, **kwargs) -> Path:  # noqa: ANN002, ANN003
    """:func:`morse.analysis.report.build_report` of a results folder, on its run files."""
    runs, pretrain = run_files(root)
    return _build_report(experiment, root, out, figures, runs, pretrain, *args, **kwargs)


def section(html: str, section_id: str) -> str:
    """The content of the report's ``<section id=...>``."""
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S)
    assert match, section_id
    return match.group(1)
