"""Tests of morse.analysis.plots and the summaries they draw, on small synthetic tables and runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_results import make_runs, metric_frame, numbered

from morse.analysis.inputs.runs import read_qualitative, read_runs, read_training_logs
from morse.analysis.plots.ablation import ablation_figure, plot_ablations
from morse.analysis.plots.boundary import boundary_figure, plot_boundary_errors
from morse.analysis.plots.cost import cost_figure, plot_cost_accuracy
from morse.analysis.plots.paired import paired_cases_figure, plot_paired_cases
from morse.analysis.plots.per_class import per_class_figure, plot_per_class_scores
from morse.analysis.plots.qualitative import plot_qualitative, qualitative_figure, zoom_box
from morse.analysis.plots.training import plot_training_curves, training_figure
from morse.analysis.summaries.ablation import ablation_summary
from morse.analysis.summaries.boundary_rates import boundary_error_rates
from morse.analysis.summaries.cases import case_means, per_class_points, training_curves
from morse.analysis.summaries.cost import cost_accuracy_summary, cost_labels, pareto_front
from morse.analysis.vocabulary import HEADLINE, variant_colour

CLASSES = ["liver", "spleen"]


def make_metrics(
    cases: dict[str, list[str]] | None = None, seeds: tuple[int, ...] = (0, 1)
) -> pd.DataFrame:
    """Tidy metrics frame: baseline (coarse) and morse (coarse, refined), given cases per variant;
    Dice and HD95 drawn per row (the other overlaps equal the Dice, Boundary IoU half of it)."""
    cases = cases or {"baseline": ["c1", "c2", "c3"], "morse": ["c1", "c2", "c3"]}
    rng = np.random.default_rng(0)

    def scores(*_: object) -> dict:
        dice, hd = float(rng.uniform(0.6, 0.9)), float(rng.uniform(2, 20))
        return {"dice": dice, "hd95_mm": hd, "boundary_iou": dice / 2}

    frames = [
        metric_frame({variant: ["coarse"] if variant == "baseline" else ["coarse", "refined"]}, scores,
                     classes=numbered(CLASSES), seeds=seeds, cases=variant_cases)
        for variant, variant_cases in cases.items()
    ]
    return pd.concat(frames, ignore_index=True)


def class_points(metrics: pd.DataFrame) -> pd.DataFrame:
    return per_class_points(metrics, HEADLINE)


def cases(metrics: pd.DataFrame) -> pd.DataFrame:
    return case_means(metrics, HEADLINE)


def samples(dirs: dict[str, Path]) -> dict[str, dict[str, np.ndarray]]:
    return {variant: read_qualitative(run) for variant, [run] in
            ((v, read_runs([d / "run.json"])) for v, d in dirs.items())}  # fmt: skip


def curves(dirs: dict[str, Path]) -> pd.DataFrame:
    return training_curves(read_training_logs(read_runs(d / "run.json" for d in dirs.values())))


def write_run(
    root: Path,
    variant: str,
    seed: int,
    pred_coarse: np.ndarray,
    pred_refined: np.ndarray,
    label: np.ndarray,
    n_points: int = 5,
) -> Path:
    """Run folder with run.json, train_log.csv and qualitative.npz."""
    run = root / "phantom2d" / "unet" / variant / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "run.json").write_text(
        json.dumps({"dataset": "phantom2d", "backbone": "unet", "variant": variant, "seed": seed})
    )
    it = np.arange(0, 50, 10)
    pd.DataFrame(
        {
            "iteration": it,
            "loss": 1.0 / (it + 1) + 0.01 * seed,
            "coarse_loss": 1.0 / (it + 1),
            "point_loss": np.nan if variant == "baseline" else 0.5 / (it + 1),
            "point_weight": 0.0,
            "lr": 0.01,
            "seconds": it * 0.1,
        }
    ).to_csv(run / "train_log.csv", index=False)
    points = np.argwhere(label > 0)[:n_points].astype(np.float32).reshape(-1, 2)
    np.savez(
        run / "qualitative.npz",
        image=np.linspace(0, 1, label.size, dtype=np.float32).reshape(label.shape),
        label=label.astype(np.uint8),
        pred_coarse=pred_coarse.astype(np.uint8),
        pred_refined=pred_refined.astype(np.uint8),
        points=points if variant != "baseline" else np.zeros((0, 2), np.float32),
        case="c1",
        slice=3,
    )
    return run


def square_masks(size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label with two squares; baseline misses a corner block of class 1 that morse gets."""
    label = np.zeros((size, size), np.uint8)
    label[10:30, 10:30] = 1
    label[40:55, 35:60] = 2
    baseline = label.copy()
    baseline[44:52, 50:60] = 0  # disagreement far from the first square
    morse = label.copy()
    return label, baseline, morse


def test_per_class_scores_writes_png_and_svg(tmp_path: Path) -> None:
    paths = plot_per_class_scores(class_points(make_metrics()), tmp_path / "figs" / "per_class")
    assert sorted(p.suffix for p in paths) == [".png", ".svg"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "figs").glob(".*tmp"))


def test_per_class_scores_one_box_per_class_and_group() -> None:
    fig = per_class_figure(class_points(make_metrics()))
    dice_ax = fig.axes[0]
    labels = [t.get_text() for t in dice_ax.get_xticklabels()]
    assert labels == CLASSES  # class_index order
    # 2 classes x 3 variant/output groups = 6 boxes (one PathPatch each)
    from matplotlib.patches import PathPatch

    assert sum(isinstance(p, PathPatch) for p in dice_ax.patches) == 6


def test_figures_are_deterministic(tmp_path: Path) -> None:
    a = plot_per_class_scores(class_points(make_metrics()), tmp_path / "a")
    b = plot_per_class_scores(class_points(make_metrics()), tmp_path / "b")
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()


def test_paired_cases_one_line_per_shared_case(tmp_path: Path) -> None:
    metrics = make_metrics(
        {"baseline": ["c1", "c2", "c3", "c4"], "morse": ["c2", "c3", "c4", "c5"]}
    )
    fig = paired_cases_figure(cases(metrics), variant="morse", reference="baseline")
    for ax in fig.axes:
        case_lines = [ln for ln in ax.lines if str(ln.get_gid()).startswith("case:")]
        assert sorted(ln.get_gid() for ln in case_lines) == ["case:c2", "case:c3", "case:c4"]
        assert len(ax.lines) == len(case_lines) + 1  # plus the mean line
        # reference coarse, morse coarse, morse refined
        assert all(len(ln.get_xdata()) == 3 for ln in case_lines)
    paths = plot_paired_cases(cases(metrics), tmp_path / "paired")
    assert {p.suffix for p in paths} == {".png", ".svg"} and all(p.exists() for p in paths)


def test_paired_cases_values_are_case_means_over_classes_and_seeds() -> None:
    metrics = make_metrics()
    fig = paired_cases_figure(cases(metrics))
    line = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "case:c1")
    base = metrics[(metrics.variant == "baseline") & (metrics.case == "c1")]["dice"].mean()
    refined = metrics[
        (metrics.variant == "morse") & (metrics.output == "refined") & (metrics.case == "c1")
    ]["dice"].mean()
    assert line.get_ydata()[0] == pytest.approx(base)
    assert line.get_ydata()[2] == pytest.approx(refined)


def test_paired_cases_leave_out_a_case_with_an_infinite_hd95() -> None:
    metrics = make_metrics()
    metrics.loc[(metrics.case == "c1") & (metrics["class"] == "liver"), "hd95_mm"] = np.inf
    fig = paired_cases_figure(cases(metrics))
    gids = sorted(ln.get_gid() for ln in fig.axes[1].lines if ln.get_gid().startswith("case:"))
    assert gids == ["case:c2", "case:c3"]  # never averaged over the one finite class
    assert "case:c1" in {ln.get_gid() for ln in fig.axes[0].lines}  # Dice is finite
    for line in fig.axes[1].lines:
        assert np.isfinite(line.get_ydata()).all()


def test_paired_cases_never_mix_regions_with_labels() -> None:
    """phantom3d/BraTS: region rows (class_index -1: WT, TC, ET) sit beside the label rows; the
    case value is the label mean only, as in the paired test (stats.case_values)."""
    rng = np.random.default_rng(5)

    def scores(variant: str, output: str, seed: int, case: int, index: int) -> dict:
        if index < 0:  # regions: far off, so that mixing them in would show
            return {"dice": 0.0, "hd95_mm": 100.0}
        return {"dice": float(rng.uniform(0.6, 0.9)), "hd95_mm": float(rng.uniform(2, 9))}

    classes = {"edema": 1, "core": 2, "enhancing": 3, "WT": -1, "TC": -1, "ET": -1}
    metrics = metric_frame({"baseline": ["coarse"], "morse": ["coarse", "refined"]}, scores,
                           classes=classes, seeds=(0, 1), cases=("c1", "c2", "c3"))  # fmt: skip
    fig = paired_cases_figure(cases(metrics))
    labels = metrics[metrics["class_index"] >= 1]
    for ax, metric in zip(fig.axes, HEADLINE, strict=True):  # Dice, HD95, NSD, Boundary IoU
        for case in ("c1", "c2", "c3"):
            line = next(ln for ln in ax.lines if ln.get_gid() == f"case:{case}")
            expected = [labels[(labels.variant == v) & (labels.output == o) & (labels.case == case)]
                        .groupby("seed")[metric].mean().mean()
                        for v, o in (("baseline", "coarse"), ("morse", "coarse"), ("morse", "refined"))]  # fmt: skip
            assert line.get_ydata() == pytest.approx(expected)
    # the same reduction as the paired statistics beside the figure
    from morse.analysis.stats import paired_comparisons

    row = paired_comparisons(metrics, metrics_to_compare=("dice",), n_resamples=200).query(
        "metric == 'dice' and variant == 'morse' and output == 'refined' and reference_variant == 'baseline'")
    means = cases(metrics).query("metric == 'dice'").groupby(["variant", "output"])["value"].mean()
    assert float(row["mean_variant"].iloc[0]) == pytest.approx(means[("morse", "refined")])
    assert float(row["mean_reference"].iloc[0]) == pytest.approx(means[("baseline", "coarse")])


def test_zoom_box_inside_image_and_on_disagreement(tmp_path: Path) -> None:
    label, baseline, morse = square_masks()
    dirs = {
        "baseline": write_run(tmp_path, "baseline", 0, baseline, baseline, label),
        "morse": write_run(tmp_path, "morse", 0, morse, morse, label),
    }
    fig, box = qualitative_figure(samples(dirs), CLASSES)
    r0, c0, r1, c1 = box
    h, w = label.shape
    assert 0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w
    disagree = baseline != morse
    assert disagree[r0:r1, c0:c1].any()
    # the window holds the most disagreement a window of that size can hold
    assert disagree[r0:r1, c0:c1].sum() == disagree.sum()
    paths = plot_qualitative(samples(dirs), tmp_path / "qual", CLASSES)
    assert {p.suffix for p in paths} == {".png", ".svg"} and all(p.exists() for p in paths)
    # one refined panel per variant shows the inference points (baseline has none)
    scatters = [
        ax
        for ax in fig.axes
        if ax.collections and any(c.get_offsets().shape[0] == 5 for c in ax.collections)
    ]
    assert scatters


def test_zoom_box_is_deterministic_and_clamped() -> None:
    mask = np.zeros((20, 30), bool)
    mask[19, 29] = True  # corner pixel: the window must shift inside, not spill out
    box = zoom_box(mask, size=8)
    assert box == zoom_box(mask, size=8)
    r0, c0, r1, c1 = box
    assert (r1 - r0, c1 - c0) == (8, 8) and r1 <= 20 and c1 <= 30 and mask[r0:r1, c0:c1].any()
    empty = zoom_box(np.zeros((20, 30), bool), size=8)
    assert empty == (6, 11, 14, 19)  # centre when nothing disagrees and no fallback


def test_training_curves_mean_over_seeds(tmp_path: Path) -> None:
    label, baseline, morse = square_masks(16)
    dirs = {}
    for variant in ("baseline", "morse"):
        for seed in (0, 1):
            dirs[f"{variant}/seed{seed}"] = write_run(
                tmp_path, variant, seed, baseline, morse, label
            )
    fig = training_figure(curves(dirs))
    loss_ax = fig.axes[0]
    gids = sorted(ln.get_gid() for ln in loss_ax.lines)
    assert gids == ["variant:baseline", "variant:morse"]
    line = next(ln for ln in loss_ax.lines if ln.get_gid() == "variant:morse")
    # seeds add 0.00 and 0.01 to the loss: the mean adds 0.005
    assert line.get_ydata()[0] == pytest.approx(1.0 + 0.005)
    assert len(loss_ax.collections) == 2  # one SD band per variant
    paths = plot_training_curves(curves(dirs), tmp_path / "train")
    assert {p.suffix for p in paths} == {".png", ".svg"} and all(p.exists() for p in paths)


def test_variant_colours_are_stable() -> None:
    assert variant_colour("morse") != variant_colour("baseline")
    assert variant_colour("morse-e3") == variant_colour("morse-e3")


def test_per_class_scores_leave_out_infinite_hd95() -> None:
    metrics = make_metrics()
    inf_rows = (metrics["class"] == "liver") & (metrics["case"] == "c1")
    metrics.loc[inf_rows, "hd95_mm"] = np.inf
    fig = per_class_figure(class_points(metrics))
    hd_ax = fig.axes[1]
    assert np.isfinite(hd_ax.get_ylim()).all()
    points = np.concatenate([c.get_offsets() for c in hd_ax.collections])
    # 2 classes x 3 groups x 3 cases, minus case c1 of liver in each of the 3 groups
    assert len(points) == 2 * 3 * 3 - 3
    assert np.isfinite(points).all()


# --------------------------------------------------------------------------------------------
# ablations and boundary errors
# --------------------------------------------------------------------------------------------
ABLATION_VARIANTS = {
    "baseline": ["coarse"],
    "morse": ["coarse", "refined"],
    "morse-num_points-512": ["coarse", "refined"],
    "morse-num_points-8192": ["coarse", "refined"],
    "morse-stochastic_gating-false": ["coarse", "refined"],
}
#: identities as the config records them in run.json (the names are only labels here: a variant
#: called "morse-num_points-512" without a recorded identity is not an ablation point)
ABLATION_POINTS = {
    "morse-num_points-512": {"base": "morse", "knob": "num_points", "value": 512},
    "morse-num_points-8192": {"base": "morse", "knob": "num_points", "value": 8192},
    "morse-stochastic_gating-false": {"base": "morse", "knob": "stochastic_gating", "value": False},
}
ABLATION_RUNS = make_runs(
    {"dataset": "phantom2d", "backbone": "unet", "variant": v, "seed": 0, "ablation": point}
    for v, point in ABLATION_POINTS.items()
)
BASE_RUNS = ABLATION_RUNS + make_runs([{
    "dataset": "phantom2d", "backbone": "unet", "variant": "morse", "seed": 0,
    "head": {"num_points": 2048, "stochastic_gating": True, "num_experts": None},
}])  # fmt: skip


def make_ablation_metrics(variants: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Two seeds x four cases x two classes per variant/output; only Dice and HD95, random (the
    ablation figure then has their two rows)."""
    rng = np.random.default_rng(3)
    return metric_frame(
        variants or ABLATION_VARIANTS,
        lambda *_: {"dice": float(rng.uniform(0.5, 0.9)), "hd95_mm": float(rng.uniform(2, 20))},
        classes=numbered(CLASSES), seeds=(0, 1), cases=("c1", "c2", "c3", "c4"), complete=False,
    )


def _panel(fig, knob: str, row: int = 0):  # noqa: ANN001, ANN202
    axes = [ax for ax in fig.axes if ax.get_title().endswith(f": {knob}")]
    return axes[row]


def test_ablation_identity_comes_from_the_runs_not_the_names() -> None:
    metrics = make_ablation_metrics()
    summary = ablation_summary(metrics, BASE_RUNS)
    points = summary[summary["role"] == "ablation"][["variant", "knob", "value"]].drop_duplicates()
    assert {(v, k, val) for v, k, val in points.itertuples(index=False)} == {
        (v, p["knob"], p["value"]) for v, p in ABLATION_POINTS.items()}
    # the same names without recorded identities: no ablation at all
    assert ablation_summary(metrics, make_runs([{"dataset": "phantom2d", "backbone": "unet",
                                                 "variant": v} for v in ABLATION_POINTS])).empty  # fmt: skip


def test_ablation_panels_x_values_and_one_line_per_output() -> None:
    summary = ablation_summary(make_ablation_metrics(), BASE_RUNS)
    fig = ablation_figure(summary)
    points = _panel(fig, "num_points")
    lines = [ln for ln in points.lines if str(ln.get_gid()).startswith("ablation:")]
    assert sorted(ln.get_gid() for ln in lines) == [
        "ablation:num_points:coarse",
        "ablation:num_points:refined",
    ]
    # the base variant joins at its own value (2048, from run.json), on a log2 axis
    for line in lines:
        assert list(line.get_xdata()) == [512, 2048, 8192]
    assert points.get_xscale() == "log"
    gating = _panel(fig, "stochastic_gating")
    assert [t.get_text() for t in gating.get_xticklabels()] == ["false", "true"]
    assert gating.get_xscale() == "linear"
    assert sum(str(ln.get_gid()).startswith("ablation:") for ln in gating.lines) == 2
    # Dice row then HD95 row: 2 knobs x 2 metrics
    assert len(fig.axes) == 4
    # without the base variant's run.json its value is unknown: only the ablation variants drawn
    fig = ablation_figure(ablation_summary(make_ablation_metrics(), ABLATION_RUNS))
    line = next(ln for ln in _panel(fig, "num_points").lines if ln.get_gid().startswith("abl"))
    assert list(line.get_xdata()) == [512, 8192]


def test_ablation_values_are_case_means_and_baseline_line() -> None:
    metrics = make_ablation_metrics()
    fig = ablation_figure(ablation_summary(metrics, BASE_RUNS))
    ax = _panel(fig, "num_points", row=0)  # Dice
    line = next(ln for ln in ax.lines if ln.get_gid() == "ablation:num_points:refined")
    sub = metrics[(metrics.variant == "morse-num_points-512") & (metrics.output == "refined")]
    per_case = sub.groupby(["seed", "case"])["dice"].mean().groupby("case").mean()
    assert line.get_ydata()[0] == pytest.approx(per_case.mean())
    base = next(ln for ln in ax.lines if ln.get_gid() == "baseline")
    expected = metrics[metrics.variant == "baseline"]["dice"].mean()  # balanced design
    assert base.get_ydata()[0] == pytest.approx(expected)
    assert base.get_linestyle() == "--"


def test_ablation_band_contains_the_mean() -> None:
    summary = ablation_summary(make_ablation_metrics(), BASE_RUNS)
    assert (summary["ci_low"] <= summary["mean"]).all()
    assert (summary["mean"] <= summary["ci_high"]).all()
    assert (summary["ci_high"] > summary["ci_low"]).all()
    fig = ablation_figure(summary)
    checked = 0
    for ax in fig.axes:
        bands = {c.get_gid(): c for c in ax.collections if str(c.get_gid()).startswith("band:")}
        for line in ax.lines:
            gid = str(line.get_gid())
            if not gid.startswith("ablation:"):
                continue
            vertices = bands[gid.replace("ablation:", "band:")].get_paths()[0].vertices
            for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
                at_x = vertices[np.isclose(vertices[:, 0], x), 1]
                assert at_x.min() <= y <= at_x.max()
                checked += 1
    assert checked == 2 * 2 * (3 + 2)  # 2 metrics x 2 outputs x (3 + 2 knob values)


def test_no_ablation_variants_no_figure(tmp_path: Path) -> None:
    metrics = make_ablation_metrics({"baseline": ["coarse"], "morse": ["coarse", "refined"]})
    assert plot_ablations(ablation_summary(metrics, BASE_RUNS), tmp_path / "abl") == []
    assert not list(tmp_path.iterdir())
    paths = plot_ablations(ablation_summary(make_ablation_metrics(), BASE_RUNS), tmp_path / "abl")
    assert {p.suffix for p in paths} == {".png", ".svg"} and all(p.exists() for p in paths)


def make_boundary() -> pd.DataFrame:
    """Two seeds x two cases x two distance bins for morse (coarse, refined) and baseline."""
    rows = []
    counts = {  # (seed, case, distance) -> (n_voxels, n_errors) for morse coarse
        (0, "c1", 0.5): (10, 5),
        (0, "c2", 0.5): (30, 3),
        (1, "c1", 0.5): (20, 2),
        (1, "c2", 0.5): (40, 20),
        (0, "c1", 1.5): (100, 1),
        (0, "c2", 1.5): (100, 0),
        (1, "c1", 1.5): (50, 5),
        (1, "c2", 1.5): (50, 0),
    }
    for variant, output, scale in (
        ("baseline", "coarse", 2),
        ("morse", "coarse", 1),
        ("morse", "refined", 0),
    ):
        for (seed, case, distance), (voxels, errors) in counts.items():
            rows.append(
                {
                    "dataset": "phantom2d",
                    "backbone": "unet",
                    "variant": variant,
                    "seed": seed,
                    "output": output,
                    "case": case,
                    "distance_mm": distance,
                    "n_voxels": voxels,
                    "n_errors": min(voxels, errors * scale),
                }
            )
    return pd.DataFrame(rows)


def test_boundary_error_rate_matches_hand_value(tmp_path: Path) -> None:
    fig = boundary_figure(boundary_error_rates(make_boundary()))
    ax = fig.axes[0]
    line = next(ln for ln in ax.lines if ln.get_gid() == "morse:coarse")
    assert list(line.get_xdata()) == [0.5, 1.5]
    # pooled over cases and seeds: (5+3+2+20)/(10+30+20+40), (1+0+5+0)/(100+100+50+50)
    assert line.get_ydata() == pytest.approx([30 / 100, 6 / 300])
    refined = next(ln for ln in ax.lines if ln.get_gid() == "morse:refined")
    assert refined.get_ydata() == pytest.approx([0.0, 0.0])
    assert sorted(str(ln.get_gid()) for ln in ax.lines) == [
        "baseline:coarse",
        "morse:coarse",
        "morse:refined",
    ]
    # band = spread of the per-seed rates: seed 0 8/40, seed 1 22/60 at 0.5 mm
    rates = boundary_error_rates(make_boundary())
    near = rates[(rates.variant == "morse") & (rates.output == "coarse")].iloc[0]
    assert (near["low"], near["high"]) == pytest.approx((8 / 40, 22 / 60))
    paths = plot_boundary_errors(boundary_error_rates(make_boundary()), tmp_path / "boundary")
    assert {p.suffix for p in paths} == {".png", ".svg"} and all(p.exists() for p in paths)


# --------------------------------------------------------------------------------------------
# cost against accuracy
# --------------------------------------------------------------------------------------------
#: mean Dice level of each (variant, output); the baseline's refined rows must be ignored
COST_LEVELS = {
    ("baseline", "coarse"): 0.70,
    ("baseline", "refined"): 0.99,
    ("morse", "coarse"): 0.72,
    ("morse", "refined"): 0.80,
    ("morse-expert_width-64", "coarse"): 0.71,
    ("morse-expert_width-64", "refined"): 0.85,
}
#: iterations_per_s per seed -> seconds per iteration 1/x: medians 0.25, 0.75 and 3.0
COST_RATES = {
    "baseline": [4.0, 2.0, 5.0],
    "morse": [1.0, 2.0],
    "morse-expert_width-64": [0.5, 0.25],
}
COST_HEADS = {  # as run.json records them: the bare backbone keeps the (unused) head defaults
    "baseline": {"head_type": "none", "expert_width": 32, "fusion": "dense", "gate_resolution": "full"},
    "morse": {"head_type": "implicit", "expert_width": 32, "fusion": "dense", "gate_resolution": "full"},
    "morse-expert_width-64": {"head_type": "implicit", "expert_width": 64, "fusion": "dense",
                              "gate_resolution": "full"},
}


def make_cost_metrics() -> pd.DataFrame:
    """Dice = level + case offset + seed offset +-0.1 per class; a background row of 1.0;
    case c3 only in seed 0, so the case means differ from the pooled mean. HD95 = 20 - 10 Dice."""
    case_offsets = [0.0, 0.1, -0.2]
    shifts = {1: 0.1, 2: -0.1}

    def scores(variant: str, output: str, seed: int, case: int, index: int) -> dict:
        dice = COST_LEVELS[(variant, output)] + case_offsets[case] + 0.02 * seed + shifts[index] if index else 1.0
        return {"dice": dice, "hd95_mm": 20.0 - 10.0 * dice}

    arms: dict[str, list[str]] = {}
    for variant, output in COST_LEVELS:
        arms.setdefault(variant, []).append(output)
    metrics = metric_frame(arms, scores, classes={"background": 0, "a": 1, "b": 2}, seeds=(0, 1),
                           cases=("c1", "c2", "c3"), complete=False)  # fmt: skip
    return metrics[(metrics["case"] != "c3") | (metrics["seed"] == 0)].reset_index(drop=True)


def make_cost_runs(rates: dict[str, list[float | None]] | None = None) -> list:
    return make_runs([
        {
            "dataset": "phantom2d",
            "backbone": "unet",
            "variant": variant,
            "seed": seed,
            "head": COST_HEADS.get(variant),
            "iterations_per_s": rate,
            "wall_time_s": 10.0,
            "train": {"iterations": 200},
        }  # fmt: skip
        for variant, per_seed in (rates or COST_RATES).items()
        for seed, rate in enumerate(per_seed)
    ])


def _cost_expected_dice(level: float) -> float:
    # case means (classes, then seeds): c1 level + 0.01, c2 level + 0.11, c3 level - 0.2
    return ((level + 0.01) + (level + 0.11) + (level - 0.2)) / 3


def test_cost_accuracy_points_are_median_cost_and_case_means() -> None:
    summary = cost_accuracy_summary(make_cost_metrics(), make_cost_runs())
    assert list(zip(summary["variant"], summary["output"], strict=True)) == [
        ("baseline", "coarse"),
        ("morse", "coarse"),
        ("morse", "refined"),
        ("morse-expert_width-64", "coarse"),
        ("morse-expert_width-64", "refined"),
    ]
    fig = cost_figure(summary)
    dice_ax, hd_ax = fig.axes[0], fig.axes[1]
    seconds = {"baseline": 0.25, "morse": 0.75, "morse-expert_width-64": 3.0}
    for (variant, output), level in COST_LEVELS.items():
        if variant == "baseline" and output == "refined":
            assert not any(ln.get_gid() == "point:baseline:refined" for ln in dice_ax.lines)
            continue
        gid = f"point:{variant}:{output}"
        dice_point = next(ln for ln in dice_ax.lines if ln.get_gid() == gid)
        hd_point = next(ln for ln in hd_ax.lines if ln.get_gid() == gid)
        dice = _cost_expected_dice(level)
        assert dice_point.get_xdata()[0] == pytest.approx(seconds[variant])
        assert hd_point.get_xdata()[0] == pytest.approx(seconds[variant])
        assert dice_point.get_ydata()[0] == pytest.approx(dice)
        assert hd_point.get_ydata()[0] == pytest.approx(20.0 - 10.0 * dice)
    assert dice_ax.get_xscale() == "log"
    # labels name the head setting that differs between the variants, and only that one
    labels = dict(zip(summary["variant"], summary["label"], strict=True))
    assert labels == {
        "baseline": "baseline",
        "morse": "morse (expert_width=32)",
        "morse-expert_width-64": "morse-expert_width-64 (expert_width=64)",
    }


def test_cost_labels_name_only_settings_the_head_uses() -> None:
    heads = {
        "baseline": {"head_type": "none", "expert_width": 256, "fusion": "dense", "gate_resolution": "full"},
        "morse": {"head_type": "implicit", "expert_width": 32, "fusion": "dense", "gate_resolution": "coarse"},
        "morse-pw": {"head_type": "implicit", "expert_width": 32, "fusion": "pointwise", "gate_resolution": "full"},
    }
    runs = [{"dataset": "d", "backbone": "b", "variant": v, "head": h} for v, h in heads.items()]
    labels = cost_labels(make_runs(runs), "d", "b", list(heads))
    # expert_width is the same for the two heads that use it; the baseline's 256 is unused.
    # gate_resolution differs only through the pointwise head, which has no gate to resolve.
    assert labels == {"baseline": "baseline", "morse": "morse (fusion=dense)",
                      "morse-pw": "morse-pw (fusion=pointwise)"}


def test_cost_accuracy_pareto_front() -> None:
    summary = cost_accuracy_summary(make_cost_metrics(), make_cost_runs())
    front = summary[summary["on_front"]]
    # by hand: baseline (0.25 s, Dice 0.70), morse refined (0.75 s, 0.80 beats its coarse 0.72),
    # width 64 refined (3 s, 0.85 beats everything cheaper); the other two are dominated
    assert set(zip(front["variant"], front["output"], strict=True)) == {
        ("baseline", "coarse"),
        ("morse", "refined"),
        ("morse-expert_width-64", "refined"),
    }
    step = next(
        ln for ln in cost_figure(summary).axes[0].lines if ln.get_gid() == "pareto"
    )
    assert list(step.get_xdata()) == pytest.approx([0.25, 0.75, 3.0])
    expected = [_cost_expected_dice(x) for x in (0.70, 0.80, 0.85)]
    assert list(step.get_ydata()) == pytest.approx(expected)
    assert step.get_drawstyle() == "steps-post"


def test_pareto_front_ties_and_missing_values() -> None:
    cost = np.array([1.0, 1.0, 2.0, 0.5, np.nan])
    score = np.array([0.5, 0.6, 0.6, 0.4, 0.9])
    assert list(pareto_front(cost, score)) == [False, True, False, True, False]


def test_cost_accuracy_needs_two_timed_variants(tmp_path: Path) -> None:
    metrics = make_cost_metrics()
    # only morse timed: baseline has no rate, the width-64 variant a zero rate
    runs = make_cost_runs({"baseline": [None], "morse": [1.0, 2.0], "morse-expert_width-64": [0]})
    assert plot_cost_accuracy(cost_accuracy_summary(metrics, runs), tmp_path / "cost") == []
    assert not list(tmp_path.iterdir())
    assert cost_accuracy_summary(metrics, runs).empty
    paths = plot_cost_accuracy(cost_accuracy_summary(metrics, make_cost_runs()), tmp_path / "cost")
    assert [p.name for p in paths] == ["cost.png", "cost.svg"] and all(p.exists() for p in paths)


def test_training_figure_puts_the_head_beside_the_coarse_logits_at_the_same_points() -> None:
    it = np.array([0, 10, 20])
    logs = pd.concat([
        pd.DataFrame({"iteration": it, "loss": 1.0, "point_loss": np.nan, "coarse_point_loss": np.nan,
                      "point_accuracy": np.nan, "coarse_point_accuracy": np.nan}).assign(variant="baseline"),
        pd.DataFrame({"iteration": it, "loss": 1.0, "point_loss": [0.9, 0.5, 0.3],
                      "coarse_point_loss": [0.9, 0.7, 0.6], "point_accuracy": [0.5, 0.7, 0.8],
                      "coarse_point_accuracy": [0.5, 0.6, 0.65]}).assign(variant="morse"),
    ]).assign(dataset="phantom2d", backbone="unet", seed="0")  # fmt: skip
    fig = training_figure(training_curves(logs))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["phantom2d / unet: loss", "phantom2d / unet: point loss", "phantom2d / unet: point accuracy"]
    point_ax = fig.axes[1]
    styles = {ln.get_label(): (ln.get_linestyle(), list(ln.get_ydata())) for ln in point_ax.lines}
    assert styles == {"morse head (n=1)": ("-", [0.9, 0.5, 0.3]),
                      "morse coarse at the points (n=1)": ("--", [0.9, 0.7, 0.6])}  # fmt: skip
    accuracy = {ln.get_label(): list(ln.get_ydata()) for ln in fig.axes[2].lines}
    assert accuracy["morse coarse at the points (n=1)"] == [0.5, 0.6, 0.65]


def test_per_class_figure_wraps_four_metrics_into_two_by_two() -> None:
    """Dice, HD95, NSD and Boundary IoU: two panels a row, so the figure grows down, not across."""
    metrics = make_metrics().assign(nsd=0.5, boundary_iou=0.25)
    fig = per_class_figure(per_class_points(metrics, HEADLINE))
    titles = [ax.get_title().split(": ")[-1] for ax in fig.axes]
    assert titles == ["Dice", "HD95 (mm)", "NSD", "Boundary IoU"]
    positions = [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes]
    assert set(positions) == {(2, 2)}
    width, height = fig.get_size_inches()
    assert width < 2 * 6.5 and height >= 2 * 3.6


def test_training_curves_leave_out_the_bare_backbones_point_loss() -> None:
    logs = pd.DataFrame({"iteration": [1, 2], "loss": [1.0, 0.9], "point_loss": [0.0, 0.0],
                         "dataset": "d", "backbone": "b", "variant": "baseline", "seed": "0"})  # fmt: skip
    assert set(training_curves(logs)["column"]) == {"loss", "point_loss"}
    curves = training_curves(logs, without_head={("d", "b", "baseline")})
    assert set(curves["column"]) == {"loss"} and list(curves["mean"]) == [1.0, 0.9]
