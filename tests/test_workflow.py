"""The whole workflow end to end on the tiny config, exactly as a user runs it (slow: ~1 min)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from workflow_runner import ROOT, make_workdir, run_snakemake


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = make_workdir(tmp_path_factory.mktemp("workflow"))
    result = _snakemake(workdir, "--configfile", str(ROOT / "config" / "tiny.yaml"))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


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


@pytest.mark.slow
def test_rerun_is_a_no_op_and_a_changed_hyper_parameter_retrains(tiny_run: Path) -> None:
    dry = _snakemake(tiny_run, "--configfile", str(ROOT / "config" / "tiny.yaml"), "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    changed = tiny_run / "config" / "changed.yaml"  # config/: the user's inputs, not outputs
    changed.write_text((ROOT / "config" / "tiny.yaml").read_text().replace("expert_width: 8", "expert_width: 4"))
    dry = _snakemake(tiny_run, "--configfile", str(changed), "-n")
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0
    # only the MORSE run depends on expert_width; the baseline is untouched
    assert "results/tiny/phantom2d/unet/morse/seed0/model.pt" in out
    assert "results/tiny/phantom2d/unet/baseline/seed0/model.pt" not in out


def test_unknown_config_key_fails_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "tiny.yaml").read_text() + "\nlearnin_rate: 0.1\n")
    result = _snakemake(tmp_path, "--configfile", str(bad), "-n")
    assert result.returncode != 0
    assert "learnin_rate" in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_parallel_jobs_write_only_their_declared_outputs(tiny_run: Path) -> None:
    # the fixture ran with --cores 2 and 1 thread per job: the two variants trained side by side
    runs = [json.loads((tiny_run / f"results/tiny/phantom2d/unet/{variant}/seed0/run.json").read_text())
            for variant in ("baseline", "morse")]
    (first, second) = sorted(runs, key=lambda run: run["started_at"])
    assert second["started_at"] < first["finished_at"], "the training jobs did not overlap"
    # every file on disk is exactly one job's declared output (or inside a declared output
    # folder, or a declared log): no job writes a file another job owns or that nobody declared
    summary = run_snakemake(tiny_run, "--summary", "--configfile", str(ROOT / "config" / "tiny.yaml"))
    assert summary.returncode == 0, summary.stderr[-3000:]
    rows = [line.split("\t") for line in summary.stdout.splitlines()[1:] if "\t" in line]
    outputs = [row[0] for row in rows]
    assert len(outputs) == len(set(outputs))
    logs = {log for row in rows for log in row[3].split(",") if log and log != "-"}
    declared = set(outputs) | logs
    written = {str(path.relative_to(tiny_run)) for path in tiny_run.rglob("*")
               if path.is_file() and path.parts[len(tiny_run.parts)] not in (".snakemake", "config")}
    undeclared = {path for path in written
                  if not any(path == owner or path.startswith(owner + "/") for owner in declared)}
    assert not undeclared, sorted(undeclared)[:10]
    assert "results/tiny/metrics.csv" in outputs and not list(tiny_run.rglob(".tmp-*"))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
]
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
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(tiny_run: Path, tmp_path: Path) -> None:
    html = (tiny_run / "reports" / "tiny" / "index.html").read_text()
    assert "<script" not in html.lower()  # the report itself runs no code
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", IMAGE_CHECK + "</body>"))
    common = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    loaded, total = map(int, dom.stdout.split('data-images="')[1].split('"')[0].split("/"))
    assert total >= 4 and loaded == total  # every embedded figure decodes
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    shot = tmp_path / "report.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000  # kept in the test's temporary folder


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
    else:
        assert counts["pretrain"] == 2 * 3 and counts["train"] == (4 + 2) * 3
    assert counts["evaluate"] == counts["train"]
    # every train job's inputs include its seed's pretraining model
    train_blocks = [block for block in out.split("\nrule ") if block.startswith("train:")]
    assert len(train_blocks) == counts["train"]
    assert all("/pretrain/seed" in block.split("output:")[0] for block in train_blocks)
    if config_name == "paper.yaml":  # device: cuda -> one GPU per job (SLURM: --gpus=1)
        heavy = [block for block in out.split("\nrule ") if block.split(":")[0] in ("pretrain", "train", "evaluate")]
        assert heavy and all("gpu=1" in block for block in heavy)
    assert not (tmp_path / "data").exists()  # a dry run touches nothing
