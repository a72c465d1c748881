# MORSE reproducibility benchmark: fetch -> prepare -> train -> evaluate -> aggregate -> compare -> report
#   snakemake --cores all                                  # the default phantom experiment
#   snakemake --cores all --configfile config/paper.yaml   # another experiment
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

from snakemake.utils import min_version, validate

from morse.config import pretrain_config, run_config, run_matrix, validate_config

min_version("9.0")

# The default experiment, unless --configfile names another (configs are not merged).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"



validate(config, "workflow/schemas/config.schema.yaml")
config = validate_config(config)  # names, backbones, variants and head knobs, before any job runs

EXPERIMENT = config["experiment"]
DATASETS = list(config["datasets"])
BACKBONES = list(config["backbones"])
VARIANTS = list(config["variants"])
SEEDS = [int(s) for s in config["seeds"]]
RESULTS = f"results/{EXPERIMENT}"
REPORTS = f"reports/{EXPERIMENT}"
RUN_DIR = RESULTS + "/{dataset}/{backbone}/{variant}/seed{seed}"


def _cuda_available():
    """A CUDA build of torch and an NVIDIA driver, found without importing torch (which takes
    seconds): the DAG builds torch-free. The jobs themselves pick the device with torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None or os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    lib = Path(spec.origin).parent / "lib"
    cuda_build = any(lib.glob("libtorch_cuda*")) or any(lib.glob("torch_cuda*"))
    return cuda_build and (Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None)


USE_GPU = config["device"] == "cuda" or (config["device"] == "auto" and _cuda_available())


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    backbone="|".join(map(re.escape, BACKBONES)),
    variant="|".join(map(re.escape, VARIANTS)),
    seed=r"\d+",


# (dataset, backbone, variant) triples: a backbone runs on the datasets of its dimensionality
# (or those listing it); a dataset may restrict its variants.
MATRIX = run_matrix(config)


def run_dirs():
    return [
        RUN_DIR.format(dataset=dataset, backbone=backbone, variant=variant, seed=seed)
        for dataset, backbone, variant in MATRIX
        for seed in SEEDS
    ]


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        f"{REPORTS}/index.html",
        f"{RESULTS}/comparisons.csv",
    default_target: True
