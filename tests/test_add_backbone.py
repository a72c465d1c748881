"""docs/add_a_backbone.md, performed literally: a backbone in a module of its own, named in the
config as ``module:builder``, runs through the real workflow into the tables and the report."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_runner import ROOT, make_workdir, run_snakemake, workflow_env

NAME = "toy_mod:build"

TOY_MODULE = '''
"""A toy 2D backbone living outside the repository."""
import torch
from torch import nn


class Toy(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.spatial_dims = 2
        self.size_divisor = 2
        self.feature_channels = [8, 4]
        self.down = nn.Sequential(nn.Conv2d(in_channels, 8, 3, stride=2, padding=1), nn.ReLU())
        self.up = nn.Sequential(nn.Conv2d(8 + in_channels, 4, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(4, num_classes, 1)

    def forward(self, x):
        coarse = self.down(x)
        fine = self.up(torch.cat([nn.functional.interpolate(coarse, size=x.shape[-2:]), x], 1))
        return self.out(fine), [coarse, fine]


def build(in_channels, num_classes, spatial_dims, **options):
    return Toy(in_channels, num_classes)


build.spatial_dims = (2,)
'''


@pytest.mark.slow
def test_add_a_backbone_by_module_path(tmp_path: Path) -> None:
    # Step 1: one file defining a builder, importable (here: on PYTHONPATH).
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "toy_mod.py").write_text(textwrap.dedent(TOY_MODULE))
    # Step 2: its name under `backbones:` in the config.
    workdir = make_workdir(tmp_path / "work")
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["backbones"] = {NAME: {}}
    configfile = workdir / "config" / "toy.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    # Step 3: run the workflow.
    pythonpath = os.pathsep.join(p for p in (str(modules), os.environ.get("PYTHONPATH")) if p)
    result = run_snakemake(workdir, "--configfile", str(configfile), env=workflow_env(PYTHONPATH=pythonpath))
    assert result.returncode == 0, result.stderr[-4000:]

    experiment = config["experiment"]
    dataset = next(iter(config["datasets"]))
    for variant in config["variants"]:
        run = workdir / "results" / experiment / dataset / NAME / variant / "seed0"
        assert (run / "model.pt").is_file() and (run / "metrics.csv").is_file(), run
    metrics = pd.read_csv(workdir / "results" / experiment / "metrics.csv")
    assert set(metrics["backbone"]) == {NAME}
    html = (workdir / "reports" / experiment / "index.html").read_text()
    assert NAME in html
