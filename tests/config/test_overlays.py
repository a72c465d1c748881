"""Studies as overlays: a base experiment plus a sweep resolves to the base's settings and the sweep."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from workflow_runner import ROOT, make_workdir, run_snakemake

from morse.config import ConfigError, load_config, run_config, run_matrix

BASE = ROOT / "config" / "config.yaml"
ABLATIONS = ROOT / "config" / "ablations.yaml"
COST = ROOT / "config" / "cost.yaml"
GATING = ROOT / "config" / "gating.yaml"
HIPPOCAMPUS = ROOT / "config" / "hippocampus.yaml"
HIPPOCAMPUS_ABLATIONS = ROOT / "config" / "hippocampus_ablations.yaml"


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_ablation_study_is_the_base_plus_its_sweep() -> None:
    base = load_config(BASE)
    study = load_config([BASE, ABLATIONS])
    for key in ("train", "method", "protocol", "device", "evaluate", "regime"):
        assert study[key] == base[key], key
    assert study["datasets"] == {"phantom2d": base["datasets"]["phantom2d"]}  # phantom3d left out
    assert list(study["backbones"]) == ["unet"]  # UNETR ran only on the dropped 3D phantom
    assert study["experiment"] == "phantom-ablations" and study["seeds"] == [0]
    # the overlay's variants replace the base's (no pointrend), plus one variant per knob value
    assert sorted(study["variants"]) == sorted([
        "baseline", "morse", "morse-num_experts-1", "morse-num_experts-3",
        "morse-num_points-72", "morse-num_points-1152"])  # fmt: skip
    run = run_config(study, "phantom2d", "unet", "morse-num_points-72", 0)
    assert run["head"]["num_points"] == 72 and run["head"]["expert_width"] == base["method"]["expert_width"]
    assert run["train"] == run_config(base, "phantom2d", "unet", "morse", 0)["train"]


def test_the_gating_study_is_morse_against_its_deterministic_twin() -> None:
    base, study = load_config(BASE), load_config([BASE, GATING])
    assert study["train"] == base["train"] and study["method"] == base["method"]
    assert study["experiment"] == "phantom-gating" and list(study["datasets"]) == ["phantom2d"]
    stochastic, deterministic = (run_config(study, "phantom2d", "unet", v, 0)["head"]
                                 for v in ("morse", "morse_deterministic"))  # fmt: skip
    assert stochastic["stochastic_gating"] and not deterministic["stochastic_gating"]
    assert {k: v for k, v in stochastic.items() if k != "stochastic_gating"} == \
        {k: v for k, v in deterministic.items() if k != "stochastic_gating"}


def test_the_real_data_ablation_is_the_hippocampus_experiment_plus_its_sweep() -> None:
    base = load_config(HIPPOCAMPUS)
    study = load_config([HIPPOCAMPUS, HIPPOCAMPUS_ABLATIONS])
    assert study["datasets"] == base["datasets"] and study["train"] == base["train"]
    assert study["experiment"] == "hippocampus-ablations"
    points = {v: run_config(study, "hippocampus", "unet", v, 0)["head"]["num_points"]
              for v in ("morse", "morse-num_points-12", "morse-num_points-192")}  # fmt: skip
    # the base's 48 points sit in the middle: one factor of 4 either side
    assert points == {"morse": 48, "morse-num_points-12": 12, "morse-num_points-192": 192}
    assert run_config(study, "hippocampus", "unet", "morse-num_experts-3", 0)["head"]["num_experts"] == 3


def test_the_cost_study_inherits_the_base_too() -> None:
    base, study = load_config(BASE), load_config([BASE, COST])
    assert study["train"] == base["train"] and study["method"] == base["method"]
    assert study["experiment"] == "phantom-cost" and {v for _, _, v in run_matrix(study)} >= {"morse-expert_width-128"}


def test_a_changed_base_setting_reaches_the_study(tmp_path: Path) -> None:
    raw = yaml.safe_load(BASE.read_text())
    raw["train"]["lr"] = 0.02
    raw["method"]["expert_width"] = 16
    changed = _write(tmp_path / "base.yaml", raw)
    study = load_config([changed, ABLATIONS])
    for variant in ("baseline", "morse", "morse-num_experts-1"):
        run = run_config(study, "phantom2d", "unet", variant, 0)
        assert run["train"]["lr"] == 0.02
    assert run_config(study, "phantom2d", "unet", "morse-num_experts-1", 0)["head"]["expert_width"] == 16


def test_an_overlay_replaces_lists_and_variants_instead_of_merging(tmp_path: Path) -> None:
    raw = yaml.safe_load(BASE.read_text())
    raw["seeds"] = [0, 1, 2]
    base = _write(tmp_path / "base.yaml", raw)
    overlay = _write(tmp_path / "study.yaml", {"experiment": "study", "variants": {"baseline": {}, "morse": {}},
                                                          "seeds": [5]})  # fmt: skip
    config = load_config([base, overlay])
    assert config["seeds"] == [5] and list(config["variants"]) == ["baseline", "morse"]
    assert config["datasets"].keys() == raw["datasets"].keys()  # no `datasets`: every base dataset


@pytest.mark.parametrize(("overlay", "message"), [
    ({"experiment": "s", "train": {"lr": 0.1}}, "key 'train' cannot be set by an overlay"),
    ({"experiment": "s", "method": {"num_points": 8}}, "key 'method' cannot be set by an overlay"),
    ({"seeds": [1]}, "an overlay must name its own 'experiment'"),
    ({"experiment": "s", "datasets": ["phantom9"]}, "dataset 'phantom9' is not in"),
    ({"experiment": "s", "datasets": {"phantom2d": {}}}, "is a list of the names"),
])  # fmt: skip
def test_an_overlay_that_would_drift_from_its_base_is_refused(tmp_path: Path, overlay: dict, message: str) -> None:
    path = _write(tmp_path / "study.yaml", overlay)
    with pytest.raises(ConfigError, match=message) as error:
        load_config([BASE, path])
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_an_overlay_given_alone_names_its_base() -> None:
    with pytest.raises(ConfigError, match=r"is an overlay .* give it after its base experiment"):
        load_config(ABLATIONS)


def test_the_workflow_plans_the_study_from_base_and_overlay(tmp_path: Path) -> None:
    work = make_workdir(tmp_path / "work")
    result = run_snakemake(work, "-n", "--configfile", str(BASE), str(ABLATIONS))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    trains = [block for block in out.split("\nrule ") if block.startswith("train:")]
    # baseline, morse and the four knob points; one seed, the 2D phantom only
    assert len(trains) == 6 and all("results/phantom-ablations/phantom2d/unet/" in t for t in trains)
    assert not any("/pointrend/" in t or "phantom3d" in t for t in trains)
    refused = _write(tmp_path / "bad.yaml", {"experiment": "s", "train": {"lr": 0.1}})
    failed = run_snakemake(work, "-n", "--configfile", str(BASE), str(refused))
    assert failed.returncode != 0
    assert "morse-bench config error" in failed.stderr and "'train' cannot be set by an overlay" in failed.stderr
