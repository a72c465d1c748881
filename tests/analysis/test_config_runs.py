"""The report and the aggregates show exactly the runs the config resolves.

Run folders of a variant that is no longer in the config stay on disk; the command line gets the
run files the Snakefile declares and must never pick the old folder up. A run the config names
whose files are missing fails the step with the run's name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from fake_results import metric_frame, numbered

from morse.cli import main
from morse.config import load_config, run_matrix

REPO = Path(__file__).resolve().parents[2]
CLASSES = numbered(["liver", "spleen"])


def write_run(root: Path, variant: str, seed: int, ablation: dict | None = None) -> Path:
    """A trained-and-evaluated run folder: run.json, train_log.csv, metrics.csv, boundary.csv,
    qualitative.npz (what the train and evaluate rules declare)."""
    run = root / "phantom2d" / "unet" / variant / f"seed{seed}"
    run.mkdir(parents=True)
    head = {"head_type": "none" if variant == "baseline" else "implicit", "fusion": "dense",
            "expert_width": 8, "num_points": 64}  # fmt: skip
    record = {"dataset": "phantom2d", "backbone": "unet", "variant": variant, "seed": seed,
              "head": head, "train": {"iterations": 4}, "protocol": "single_stage",
              "device": "cpu", "wall_time_s": 1.0, "iterations_per_s": 4.0}  # fmt: skip
    if ablation:
        record["ablation"] = ablation
    (run / "run.json").write_text(json.dumps(record))
    (run / "train_log.csv").write_text("iteration,loss\n0,1.0\n1,0.5\n")
    rng = np.random.default_rng(abs(hash((variant, seed))) % 2**32)
    outputs = ["coarse"] if variant == "baseline" else ["coarse", "refined"]
    frame = metric_frame({variant: outputs}, lambda *_: {
        "dice": float(rng.uniform(0.5, 0.9)), "hd95_mm": 4.0, "dice_authors": 0.7, "nsd": 0.8,
        "boundary_iou": 0.6}, classes=CLASSES, seeds=(seed,), cases=[f"c{i}" for i in range(6)])  # fmt: skip
    frame.to_csv(run / "metrics.csv", index=False)
    (run / "boundary.csv").write_text(
        "dataset,backbone,variant,seed,output,case,distance_mm,n_voxels,n_errors\n"
        f"phantom2d,unet,{variant},{seed},coarse,c0,0.5,100,10\n")
    label = np.zeros((16, 16), np.uint8)
    label[4:10, 4:10] = 1
    np.savez(run / "qualitative.npz", image=np.zeros((16, 16), np.float32), label=label,
             pred_coarse=label, pred_refined=label, points=np.zeros((0, 2), np.float32),
             case="c0", slice=0)  # fmt: skip
    return run


def config_with(tmp_path: Path, variants: dict) -> dict:
    text = (REPO / "config" / "tiny.yaml").read_text().replace("protocol: two_stage", "protocol: single_stage")
    text = re.sub(r"variants:\n(  .*\n)+", "variants:\n" + "".join(f"  {v}: {{}}\n" for v in variants), text)
    path = tmp_path / f"config-{len(variants)}.yaml"
    path.write_text(text)
    return load_config(path)


def run_folders(root: Path, config: dict) -> list[Path]:
    """The run folders the Snakefile declares for a config (RUN_DIR over run_matrix x seeds)."""
    return [root / d / b / v / f"seed{s}" for d, b, v in run_matrix(config) for s in config["seeds"]]


def pipeline(root: Path, runs: list[Path], out: Path) -> str:
    """aggregate -> compare -> report on exactly ``runs``, as the rules call them."""
    assert main(["aggregate", "--out-dir", str(root), *[str(r / "metrics.csv") for r in runs],
                 "--boundary", *[str(r / "boundary.csv") for r in runs]]) == 0  # fmt: skip
    assert main(["compare", "--metrics", str(root / "metrics.csv"), "--out",
                 str(root / "comparisons.csv"), "--resamples", "200"]) == 0  # fmt: skip
    assert main(["report", "--experiment", "tiny", "--results", str(root), "--out", str(out),
                 "--figures", str(out.parent / "figures"), "--runs",
                 *[str(r / "run.json") for r in runs]]) == 0  # fmt: skip
    return out.read_text()


def test_a_variant_removed_from_the_config_leaves_the_report(tmp_path: Path) -> None:
    root = tmp_path / "results" / "tiny"
    full = config_with(tmp_path, {"baseline": {}, "pointrend": {}, "morse": {}})
    for _, _, variant, seed in ((*k, s) for k in run_matrix(full) for s in full["seeds"]):
        write_run(root, variant, seed)
    html = pipeline(root, run_folders(root, full), tmp_path / "full" / "index.html")
    assert "pointrend" in html and "3 variant runs" in html
    # pointrend is removed from the config; its folder stays on disk
    reduced = config_with(tmp_path, {"baseline": {}, "morse": {}})
    html = pipeline(root, run_folders(root, reduced), tmp_path / "reduced" / "index.html")
    assert (root / "phantom2d" / "unet" / "pointrend" / "seed0" / "run.json").exists()
    assert "pointrend" not in html.lower()  # runs count, head table, qualitative, tables, figures
    assert "2 variant runs" in html
    assert re.search(r"<dt>Variants</dt><dd>baseline, morse</dd>", html)


def test_a_named_run_with_missing_outputs_fails_with_its_name(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    root = tmp_path / "results" / "tiny"
    runs = [write_run(root, v, 0) for v in ("baseline", "morse")]
    metrics = (runs[1] / "metrics.csv").read_bytes()
    (runs[1] / "metrics.csv").unlink()
    assert main(["aggregate", "--out-dir", str(root), *[str(r / "metrics.csv") for r in runs]]) == 1
    assert f"run {runs[1]}: metrics.csv is missing" in capsys.readouterr().err
    (runs[1] / "metrics.csv").write_bytes(metrics)
    pipeline(root, runs, tmp_path / "ok" / "index.html")
    # the report: a named run without its qualitative.npz, then without its run.json
    (runs[1] / "qualitative.npz").unlink()
    out = tmp_path / "r" / "index.html"
    args = ["report", "--experiment", "tiny", "--results", str(root), "--out", str(out),
            "--figures", str(out.parent / "f"), "--runs", *[str(r / "run.json") for r in runs]]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "run phantom2d/unet/morse/seed0:" in err and "qualitative.npz is missing" in err
    assert not out.exists()
    (runs[1] / "run.json").unlink()
    assert main(args) == 1
    assert "morse/seed0: run.json is missing, but the config names this run" in capsys.readouterr().err
    assert not out.exists()


def test_a_stale_aggregate_is_refused(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    root = tmp_path / "results" / "tiny"
    runs = [write_run(root, v, 0) for v in ("baseline", "pointrend", "morse")]
    pipeline(root, runs, tmp_path / "a" / "index.html")
    # metrics.csv still holds pointrend, but the config (the --runs list) no longer names it
    args = ["report", "--experiment", "tiny", "--results", str(root), "--out",
            str(tmp_path / "b" / "index.html"), "--figures", str(tmp_path / "b" / "f"), "--runs",
            str(runs[0] / "run.json"), str(runs[2] / "run.json")]  # fmt: skip
    assert main(args) == 1
    assert "metrics.csv holds run(s) the config does not name: phantom2d/unet/pointrend/0" in (
        capsys.readouterr().err)


def test_the_report_and_the_job_graph_do_not_import_torch(tmp_path: Path) -> None:
    """The analysis modules load no torch, and neither does building the DAG: a stand-in torch
    package that refuses to be imported is first on the path of ``snakemake -n``."""
    import subprocess
    import sys

    code = ("import sys, morse.cli, morse.analysis.report, morse.analysis.aggregate, morse.analysis.stats\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'monai'))\n"
            "assert not bad, bad[:5]")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch imported while building the DAG')\n")
    from workflow_runner import run_snakemake, workflow_env

    env = workflow_env(PYTHONPATH=str(fake.parent), CUDA_VISIBLE_DEVICES="")
    work = tmp_path / "work"
    work.mkdir()
    dry = run_snakemake(work, "-n", "--configfile", str(REPO / "config" / "config.yaml"), env=env)
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-2000:]
    assert "report" in dry.stdout


def test_the_report_rule_passes_exactly_the_runs_the_config_resolves(tmp_path: Path) -> None:
    """The Snakefile side: the report command lists the configured run.json files (variant and
    pretraining runs) as arguments; a variant removed from the config is not among them even
    when its folder is on disk."""
    from workflow_runner import make_workdir, run_snakemake

    work = make_workdir(tmp_path / "work")
    stale = work / "results" / "tiny" / "phantom2d" / "unet" / "pointrend" / "seed0"
    stale.mkdir(parents=True)
    (stale / "run.json").write_text("{}")
    for variants, expected in ((["baseline", "pointrend", "morse"], {"baseline", "pointrend", "morse"}),
                               (["baseline", "morse"], {"baseline", "morse"})):  # fmt: skip
        text = re.sub(r"variants:\n(  .*\n)+", "variants:\n" + "".join(f"  {v}: {{}}\n" for v in variants),
                      (REPO / "config" / "tiny.yaml").read_text())  # fmt: skip
        config = tmp_path / f"tiny-{len(variants)}.yaml"
        config.write_text(text)
        dry = run_snakemake(work, "-n", "-p", "--configfile", str(config))
        assert dry.returncode == 0, (dry.stdout + dry.stderr)[-2000:]
        [command] = [line for line in dry.stdout.splitlines() if "morse-bench report " in line]
        runs = re.search(r"--runs (.*?) --pretrain-runs (.*?) --config-json", command)
        assert runs, command
        listed = runs.group(1).split()
        assert {Path(p).parts[-3] for p in listed} == expected
        assert listed == [f"results/tiny/phantom2d/unet/{v}/seed0/run.json" for v in variants]
        assert runs.group(2).split() == ["results/tiny/phantom2d/unet/pretrain/seed0/run.json"]
        assert "*" not in command
