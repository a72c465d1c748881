"""The whole workflow end to end on the tiny config, exactly as a user runs it (slow)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import browser
import pandas as pd
import pytest
import yaml
from workflow_runner import ROOT, run_snakemake, workflow_env


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Snakemake in ``workdir``, on the clone's own Snakefile when ``workdir`` is a clone."""
    if not (workdir / "Snakefile").is_file():
        return run_snakemake(workdir, *args)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(workdir / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, env=workflow_env(), timeout=900)


def clone(folder: Path) -> Path:
    """A copy of the workflow (Snakefile, rules, schemas, configs, default profile) in ``folder``,
    as a git clone has it."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", folder)
    for part in ("workflow", "config", "profiles"):
        shutil.copytree(ROOT / part, folder / part)
    return folder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # run from a clone whose path has spaces: every path and wildcard in the rules must be quoted
    workdir = clone(tmp_path_factory.mktemp("workflow") / "my clone of morse-bench")
    result = _snakemake(workdir, "--configfile", str(workdir / "config" / "tiny.yaml"))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def _tiny(workdir: Path) -> str:
    return str(workdir / "config" / "tiny.yaml")


@pytest.mark.slow
def test_workflow_writes_report_and_tidy_metrics(tiny_run: Path) -> None:
    metrics = pd.read_csv(tiny_run / "results" / "tiny" / "metrics.csv")
    for column in ("dataset", "backbone", "variant", "seed", "case", "class", "dice", "hd95_mm", "hd95_vox", "output"):
        assert column in metrics.columns
    assert set(metrics["variant"]) == {"baseline", "morse"}
    # the baseline is scored on its coarse output only, MORSE on both
    assert set(metrics.loc[metrics.variant == "baseline", "output"]) == {"coarse"}
    assert set(metrics.loc[metrics.variant == "morse", "output"]) == {"coarse", "refined"}
    # 2 test cases x 8 organs per run and output
    per_run = metrics.groupby(["variant", "output"]).size()
    assert (per_run == 2 * 8).all()
    assert metrics["dice"].between(0, 1).all()
    html = (tiny_run / "reports" / "tiny" / "index.html").read_text()
    assert "morse" in html and "baseline" in html
    comparisons = pd.read_csv(tiny_run / "results" / "tiny" / "comparisons.csv")
    assert {"morse"} <= set(comparisons["variant"])
    # a verdict per claim (2 test cases: too few for a test; PointRend was not configured)
    verdicts = pd.read_csv(tiny_run / "results" / "tiny" / "verdicts.csv").set_index(["claim", "metric"])
    assert verdicts.loc[("dice_refined", "dice"), "state"] == "not evidence"
    assert verdicts.loc[("beats_pointrend", "dice"), "state"] == "not run"
    ranks = pd.read_csv(tiny_run / "results" / "tiny" / "rank_stability.csv")
    assert set(zip(ranks["variant"], ranks["output"], strict=True)) == {
        ("baseline", "coarse"), ("morse", "coarse"), ("morse", "refined")}
    index = (tiny_run / "reports" / "index.html").read_text()
    assert 'href="tiny/index.html"' in index and json.loads(
        (tiny_run / "reports" / "tiny" / "verdicts.json").read_text())["experiment"] == "tiny"


@pytest.mark.slow
def test_run_json_records_provenance(tiny_run: Path) -> None:
    run = json.loads((tiny_run / "results/tiny/phantom2d/unet/morse/seed0/run.json").read_text())
    assert run["head"]["head_type"] == "implicit" and run["head"]["fusion"] == "dense"
    assert run["head"]["expert_width"] == 8
    assert run["versions"]["torch"].startswith("2.13")
    assert run["device"].startswith("cpu")
    assert run["train"]["iterations"] == 4 and run["config_hash"]
    # two-stage protocol: every variant starts from the seed's backbone-only pretraining run
    pretrain = json.loads((tiny_run / "results/tiny/phantom2d/unet/pretrain/seed0/run.json").read_text())
    assert pretrain["train"]["iterations"] == 3 and pretrain["head"]["head_type"] == "none"
    assert run["init_config_hash"] == pretrain["config_hash"]
    assert run["init_from"] == "results/tiny/phantom2d/unet/pretrain/seed0/model.pt"
    # what the report needs to tell runs of different machines apart, and what evaluate checks
    assert run["machine"]["cpu_capability"] and run["machine"]["cpu_model"] and run["machine"]["blas"]
    assert run["data"]["name"] == "phantom2d" and run["data"]["class_names"][0] == "background"
    assert run["train"]["log_every"] == 1 and run["evaluate"] == {"slice_batch": 16, "window_batch": 4}  # recorded


@pytest.mark.slow
def test_workflow_writes_validation_curves_snapshots_and_budget_metrics(tiny_run: Path) -> None:
    results = tiny_run / "results" / "tiny"
    runs = results / "phantom2d" / "unet"
    pretrain = pd.read_csv(runs / "pretrain" / "seed0" / "val_log.csv")
    # one validation case (phantom.n_val_cases); 3 pretraining iterations, validated at each
    assert list(pretrain["iteration"]) == [1, 2, 3] and set(pretrain["stage"]) == {"pretrain"}
    assert list(pretrain["total_iteration"]) == [1, 2, 3] and pretrain["val_dice"].between(0, 1).all()
    joint = pd.read_csv(runs / "morse" / "seed0" / "val_log.csv")
    assert list(joint["iteration"]) == [1, 2, 3, 4] and set(joint["stage"]) == {"joint"}
    assert list(joint["total_iteration"]) == [4, 5, 6, 7]  # counted on from the 3 pretraining iterations
    record = json.loads((runs / "morse" / "seed0" / "run.json").read_text())
    assert record["validation"]["n_cases"] == 1 and record["validation"]["final"] == joint["val_dice"].iloc[-1]
    assert [(s["iteration"], s["total_iteration"]) for s in record["snapshots"]] == [(1, 4), (2, 5), (3, 6), (4, 7)]
    assert json.loads((runs / "pretrain" / "seed0" / "run.json").read_text())["snapshots"] == []
    # the aggregated snapshot metrics: every snapshot of every run; the last equals metrics.csv
    budget = pd.read_csv(results / "budget_metrics.csv", dtype={"case": str})
    assert set(budget["variant"]) == {"baseline", "morse"} and sorted(budget["iteration"].unique()) == [1, 2, 3, 4]
    metrics = pd.read_csv(results / "metrics.csv", dtype={"case": str}).drop(columns="source")
    final = budget[budget["iteration"] == 4].drop(columns=["source", "iteration", "total_iteration"])
    pd.testing.assert_frame_equal(final.reset_index(drop=True), metrics[list(final.columns)], check_exact=True)


@pytest.mark.slow
def test_rerun_is_a_no_op_and_a_changed_hyper_parameter_retrains(tiny_run: Path) -> None:
    assert " " in str(tiny_run)  # the whole tiny workflow ran in a folder whose path has spaces
    dry = _snakemake(tiny_run, "--configfile", _tiny(tiny_run), "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    changed = tiny_run / "config" / "changed.yaml"  # config/: the user's inputs, not outputs
    changed.write_text((ROOT / "config" / "tiny.yaml").read_text().replace("expert_width: 8", "expert_width: 4"))
    dry = _snakemake(tiny_run, "--configfile", str(changed), "-n")
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0
    # only the MORSE run depends on expert_width; the baseline is untouched (no job outputs it)
    assert "output: results/tiny/phantom2d/unet/morse/seed0/model.pt" in out
    assert "output: results/tiny/phantom2d/unet/baseline/seed0/model.pt" not in out


def test_unknown_config_key_fails_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "tiny.yaml").read_text() + "\nlearnin_rate: 0.1\n")
    result = _snakemake(tmp_path, "--configfile", str(bad), "-n")
    assert result.returncode != 0
    assert "learnin_rate" in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_parallel_jobs_write_only_their_declared_outputs(tiny_run: Path) -> None:
    # The fixture ran with --cores 2 and 1 thread per job. Snakemake's own record (its log, not
    # the clock) shows the scheduler launched both training jobs in one round, before it handled
    # either one's completion: the two variants were allowed to and did run side by side.
    logs = [p.read_text() for p in sorted((tiny_run / ".snakemake" / "log").glob("*.snakemake.log"))]
    log = next(text for text in logs if "(Rule: train)" in text)
    events = []
    for line in log.splitlines():
        started = re.match(r"^(?:local)?rule (\w+):$", line)
        finished = re.match(r"^Finished jobid: \d+ \(Rule: (\w+)\)$", line)
        if started or finished:
            events.append(("start" if started else "finish", (started or finished).group(1)))
    assert [kind for kind, rule in events if rule == "train"] == ["start", "start", "finish", "finish"], events
    # every file on disk is exactly one job's declared output (or inside a declared output
    # folder, or a declared log): no job writes a file another job owns or that nobody declared
    summary = _snakemake(tiny_run, "--summary", "--configfile", _tiny(tiny_run))
    assert summary.returncode == 0, summary.stderr[-3000:]
    rows = [line.split("\t") for line in summary.stdout.splitlines()[1:] if "\t" in line]
    outputs = [row[0] for row in rows]
    assert len(outputs) == len(set(outputs))
    logs = {log for row in rows for log in row[3].split(",") if log and log != "-"}
    declared = set(outputs) | logs
    written = {str(path.relative_to(tiny_run)) for path in tiny_run.rglob("*")
               if path.is_file() and path.parts[len(tiny_run.parts)] not in (".snakemake", "config", "workflow",
                                                                               "profiles")
               and path.name != "Snakefile"}
    # except the snapshots a training job writes beside its declared outputs (listed in its
    # run.json): declared, they would be deleted before an interrupted job is resumed
    snapshots = {path for path in written if Path(path).parent.name == "snapshots"}
    owners = {str(Path(path).parent.parent / "run.json") for path in snapshots}
    assert snapshots and owners <= set(outputs)
    undeclared = {path for path in written - snapshots
                  if not any(path == owner or path.startswith(owner + "/") for owner in declared)}
    assert not undeclared, sorted(undeclared)[:10]
    assert "results/tiny/metrics.csv" in outputs and not list(tiny_run.rglob(".tmp-*"))


IMAGE_CHECK = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.body.setAttribute("data-images", loaded + "/" + images.length);
});
</script>
"""


@pytest.mark.slow
@pytest.mark.skipif(browser.CHROMIUM is None, reason=browser.SKIP_REASON)
def test_report_renders_in_headless_chromium(tiny_run: Path, tmp_path: Path) -> None:
    html = (tiny_run / "reports" / "tiny" / "index.html").read_text()
    assert "<script" not in html.lower()  # the report itself runs no code
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", IMAGE_CHECK + "</body>"))
    dom = browser.run(["--dump-dom", page.as_uri()], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    loaded, total = map(int, dom.stdout.split('data-images="')[1].split('"')[0].split("/"))
    assert total >= 6 and loaded == total  # every embedded figure decodes (forest and ranks too)
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    shot = tmp_path / "report.png"
    browser.run([f"--screenshot={shot}", "--window-size=1280,800", page.as_uri()], tmp_path / "profile")
    assert shot.exists() and shot.stat().st_size > 10_000  # kept in the test's temporary folder
    # at 1280 px nothing is wider than the page, and the verdict matrix's reading is on the first screen
    for report in (tiny_run / "reports" / "tiny" / "index.html", tiny_run / "reports" / "index.html"):
        seen = browser.measure(report, tmp_path)
        assert seen["scrollWidth"] <= 1280 and not seen["wide"], (report, seen)
    seen = browser.measure(tiny_run / "reports" / "tiny" / "index.html", tmp_path)
    assert seen["firstSection"] == "answer" and seen["readingBottom"] <= 800, seen


@pytest.mark.parametrize("config_name", ["paper.yaml", "config.yaml"])
def test_dry_run_lists_the_whole_plan_with_pretraining_feeding_every_variant(
    config_name: str, tmp_path: Path
) -> None:
    result = _snakemake(tmp_path, "--configfile", str(ROOT / "config" / config_name), "-n")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    if config_name == "paper.yaml":
        # 7 dataset x backbone pairs (heart/vnet the optional extra) x 3 seeds pretrain; 7 pairs x 4
        # variants x 3 seeds + 13 ablation points on synapse/unet x 3 seeds train
        assert counts["pretrain"] == 21 and counts["train"] == 7 * 4 * 3 + 13 * 3
    else:  # 2 dataset x backbone pairs; 4 variants in 2D, 2 in 3D; per seed of the config
        seeds = len(yaml.safe_load((ROOT / "config" / config_name).read_text())["seeds"])
        assert counts["pretrain"] == 2 * seeds and counts["train"] == (4 + 2) * seeds
    assert counts["evaluate"] == counts["evaluate_budget"] == counts["train"] and counts["aggregate_budget"] == 1
    # every train job's inputs include its seed's pretraining model
    train_blocks = [block for block in out.split("\nrule ") if block.startswith("train:")]
    assert len(train_blocks) == counts["train"]
    assert all("/pretrain/seed" in block.split("output:")[0] for block in train_blocks)
    if config_name == "paper.yaml":  # device: cuda -> one GPU per job (SLURM: --gpus=1)
        heavy = [block for block in out.split("\nrule ") if block.split(":")[0] in ("pretrain", "train", "evaluate")]
        assert heavy and all("gpu=1" in block for block in heavy)
    assert not (tmp_path / "data").exists()  # a dry run touches nothing


def _job_counts(output: str) -> dict[str, int]:
    return {line.split()[0]: int(line.split()[1]) for line in output.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}


@pytest.mark.slow
def test_logging_worker_and_evaluation_settings_do_not_retrain(tiny_run: Path) -> None:
    runtime = tiny_run / "config" / "runtime.yaml"  # config/: the user's inputs, not outputs
    runtime.write_text((tiny_run / "config" / "tiny.yaml").read_text().replace(
        "  log_every: 1\n", "  log_every: 2\n  num_workers: 1\n  snapshots: 3\n  validate_every: 2\n").replace(
        "checkpoint_every: 2", "checkpoint_every: 3"))
    dry = _snakemake(tiny_run, "--configfile", str(runtime), "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = _job_counts(dry.stdout + dry.stderr)
    assert not {"pretrain", "train", "evaluate", "evaluate_budget"} & set(counts), counts  # recorded, not retrained
    runtime.write_text(runtime.read_text() + "evaluate: {slice_batch: 4}\n")
    dry = _snakemake(tiny_run, "--configfile", str(runtime), "-n")
    counts = _job_counts(dry.stdout + dry.stderr)
    assert counts.get("evaluate") == 2 and not {"pretrain", "train"} & set(counts), counts  # re-evaluate only


def _config_failure(workdir: Path, *args: str) -> str:
    result = _snakemake(workdir, *args)
    assert result.returncode != 0
    assert not (workdir / "data").exists() and not (workdir / "results").exists()  # before any job
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "morse-bench config error" in line]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_bad_yaml_and_names_fail_in_the_snakefile_with_file_and_line(tmp_path: Path) -> None:
    tiny = (ROOT / "config" / "tiny.yaml").read_text()
    dup = tmp_path / "dup.yaml"
    dup.write_text(tiny + "train:\n  iterations: 2\n")
    assert re.search(r"dup\.yaml:27: key 'train' is given twice \(lines 20 and 27\)",
                     _config_failure(tmp_path, "--configfile", str(dup), "-n"))
    spaced = tmp_path / "spaced.yaml"
    spaced.write_text(tiny.replace("  phantom2d:", "  phantom 2d:"))
    assert "name 'phantom 2d' is not allowed" in _config_failure(tmp_path, "--configfile", str(spaced), "-n")
    # the default config (no --configfile) is read by the Snakefile: its syntax errors have a line
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(tiny.replace("seeds: [0]", "seeds: [0"))
    assert re.search(r"config/config\.yaml:20:6: YAML syntax error", _config_failure(tmp_path, "-n"))


def test_device_cuda_without_a_gpu_fails_before_any_job(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cuda = tmp_path / "cuda.yaml"
    cuda.write_text((ROOT / "config" / "tiny.yaml").read_text().replace("device: cpu", "device: cuda"))
    assert "torch finds no CUDA device" in _config_failure(tmp_path, "--configfile", str(cuda))
    dry = _snakemake(tmp_path, "--configfile", str(cuda), "-n")  # planning (e.g. for a cluster) still works
    assert dry.returncode == 0, dry.stderr[-3000:]


def test_a_failed_job_shows_its_error_line_and_leaves_no_temporaries(tmp_path: Path) -> None:
    config = tmp_path / "local.yaml"
    empty = tmp_path / "a folder without images"  # (a missing or empty one stops Snakemake before any job)
    empty.mkdir()
    (empty / "notes.txt").write_text("not a dataset\n")
    config.write_text((ROOT / "config" / "tiny.yaml").read_text().replace(
        "    kind: phantom2d\n", f"    kind: synapse\n    source: local\n    path: {empty}\n"))
    leftover = tmp_path / "data" / "prepared" / ".tmp-0123456789ab-phantom2d"  # of a killed prepare
    (leftover / "images").mkdir(parents=True)
    result = _snakemake(tmp_path, "--configfile", str(config))
    assert result.returncode != 0
    console = result.stdout + result.stderr
    assert re.search(rf"rule fetch failed: morse-bench fetch: error: synapse: {re.escape(str(empty))} holds "
                     r"neither the raw BTCV NIfTI .*fix `path` or `format` \(log: logs/fetch/phantom2d\.log\)",
                     console), console[-3000:]
    assert not leftover.exists() and not list((tmp_path / "data").rglob(".tmp-*"))


@pytest.mark.slow
def test_editing_a_local_dataset_re_prepares_exactly_that_dataset(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    from real_layouts import btcv_files

    for name in ("a", "b"):
        for member, data in btcv_files().items():
            (tmp_path / name / member).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / member).write_bytes(data)
    config = tmp_path / "config" / "local.yaml"
    config.parent.mkdir()
    config.write_text(f"""experiment: local
device: cpu
datasets:
  syn_a: {{kind: synapse, source: local, format: nifti, path: "{tmp_path / 'a'}"}}
  syn_b: {{kind: synapse, source: local, format: nifti, path: "{tmp_path / 'b'}"}}
backbones: {{unet: {{}}}}
variants: {{baseline: {{}}}}
seeds: [0]
train: {{iterations: 1, batch_size: 1, patch_size: [16, 16]}}
""")
    targets = ["data/prepared/syn_a", "data/prepared/syn_b"]
    done = _snakemake(tmp_path, *targets, "--configfile", str(config))
    assert done.returncode == 0, done.stderr[-3000:]
    dry = _snakemake(tmp_path, *targets, "--configfile", str(config), "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    label = tmp_path / "a" / "RawData" / "Training" / "label" / "label0001.nii.gz"
    label.write_bytes(label.read_bytes() + b"\0")  # a replaced file: another size and mtime
    dry = _snakemake(tmp_path, *targets, "--configfile", str(config), "-n")
    out = dry.stdout + dry.stderr
    assert _job_counts(out).get("prepare") == 1 and "params have changed" in out
    prepare = next(block for block in out.split("\nrule ") if block.startswith("prepare:"))
    assert "data/prepared/syn_a" in prepare and "syn_b" not in prepare


def test_a_bad_claims_registry_fails_in_the_snakefile_naming_the_key(tmp_path: Path) -> None:
    claims = tmp_path / "claims.yaml"
    claims.write_text((ROOT / "config" / "claims.yaml").read_text().replace("    label: Dice, coarse output\n",
                                                                           "    lable: Dice, coarse output\n"))
    config = tmp_path / "claims-config.yaml"
    config.write_text((ROOT / "config" / "tiny.yaml").read_text() + f"claims: {claims}\n")
    line = _config_failure(tmp_path, "--configfile", str(config), "-n")
    assert "claim 'dice_coarse' (claims[0]): unknown key 'lable'" in line and str(claims) in line
