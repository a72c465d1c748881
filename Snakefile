# MORSE reproducibility benchmark: fetch -> prepare -> train -> evaluate -> aggregate -> compare -> report
#   snakemake --cores all                                  # the default phantom experiment
#   snakemake --cores all --configfile config/paper.yaml   # another experiment
#   snakemake --cores all --configfile config/config.yaml config/ablations.yaml  # a study of one
import json
import os
import re
import shlex
import sys

from snakemake.utils import min_version, update_config, validate

from morse.analysis.claims import load_claims
from morse.config import (
    ConfigError,
    check_device,
    evaluation_settings,
    local_source_problem,
    prepare_entry,
    pretrain_config,
    read_yaml,
    resolve_config_files,
    resolved_device,
    run_config,
    run_matrix,
    run_settings,
    source_entry,
    validate_config,
)
from morse.data.sources.fingerprint import local_dataset_fingerprint
from morse.failures import clean_data_temporaries, failure_summary

min_version("9.0")


# Helper functions (config errors, GPU detection, run folders), kept apart from the rules as
# Snakemake's style guide and `snakemake --lint` ask.
include: "workflow/rules/common.smk"


DEFAULT_CONFIG = "config/config.yaml"

# Snakemake's own YAML reader lets a repeated key replace the first silently and reports a syntax
# error without a line: read the config files again with the strict reader (duplicate keys, syntax
# errors as file:line:column). A syntax error in a --configfile stops Snakemake before this file
# runs; `morse-bench check --config FILE` then names its line and column.
try:
    for _path in workflow.config_settings.configfiles or [DEFAULT_CONFIG]:
        read_yaml(_path)
except ConfigError as error:
    _config_error(error)

# The default experiment, unless --configfile names another: one experiment, or a base experiment
# and overlays (studies) after it. Snakemake merges several config files by a deep dict update,
# under which an overlay's variants would be added to the base's: the config is resolved again by
# the overlay rules (morse/config/overlays.py), then the command line's --config laid over it.
if not workflow.config_settings.configfiles:

    configfile: DEFAULT_CONFIG


try:
    if workflow.config_settings.configfiles:
        config = resolve_config_files(workflow.config_settings.configfiles)
        update_config(config, dict(workflow.config_settings.config))
    # names, backbones, variants, head knobs, sizes: before any job
    config = validate_config(config)
except ConfigError as error:
    _config_error(error)
validate(config, "workflow/schemas/config.schema.yaml")
# A source: local folder that is missing now (an unmounted drive) stops here, before any job
# could replace what was prepared from it.
if local_source_problem(config):
    _config_error(local_source_problem(config))

# The claims registry the report's verdicts test: refused here, before any job, when invalid.
CLAIMS = config.get("claims") or os.path.join(workflow.basedir, "config", "claims.yaml")
try:
    load_claims(CLAIMS)
except ConfigError as error:
    _config_error(error)

EXPERIMENT = config["experiment"]
DATASETS = list(config["datasets"])
BACKBONES = list(config["backbones"])
VARIANTS = list(config["variants"])
SEEDS = [int(s) for s in config["seeds"]]
RESULTS = f"results/{EXPERIMENT}"
REPORTS = f"reports/{EXPERIMENT}"
# Path templates of a run folder and of a backbone pretraining run (the braces of the
# wildcards are doubled in these f-strings).
RUN_DIR = f"{RESULTS}/{{dataset}}/{{backbone}}/{{variant}}/seed{{seed}}"
PRETRAIN_DIR = f"{RESULTS}/{{dataset}}/{{backbone}}/pretrain/seed{{seed}}"
# The files of a finished run (train's and evaluate's outputs).
RUN_FILES = (
    "model.pt train_log.csv val_log.csv run.json metrics.csv boundary.csv refinement.csv"
    " qualitative.npz budget_metrics.csv"
)

# The DAG builds torch-free: the installation tells whether jobs get a GPU (they ask torch).
USE_GPU = resolved_device(config["device"]) == "cuda"


# GPU jobs declare gpu=1; the default profile (profiles/default) caps gpu here. On a cluster each
# job gets its own GPU, so the scheduler there does not count them against that cap.
resource_scopes:
    gpu="local",


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    backbone="|".join(map(re.escape, BACKBONES)),
    variant="|".join(map(re.escape, VARIANTS)),
    seed=r"\d+",


# (dataset, backbone, variant) triples: a backbone runs on the datasets of its dimensionality
# (or those listing it); a dataset may restrict its variants.
MATRIX = run_matrix(config)


# dataset -> the settings recorded in run.json that do not retrain (the train rules pass them in a
# param that Snakemake's params-change check leaves out).
RUN_SETTINGS = json.dumps(
    {
        dataset: run_settings(pretrain_config(config, dataset, backbone, SEEDS[0]))
        for dataset, backbone, _ in MATRIX
    },
    sort_keys=True,
)


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


onstart:
    # Not in a dry run (planning for a cluster from a login node without a GPU is fine), and only
    # when jobs run here: device: cuda needs a GPU on this machine before the first job starts.
    if workflow.local_exec and any(
        job.rule.name in ("pretrain", "train", "evaluate")
        for job in workflow.dag.needrun_jobs()
    ):
        try:
            check_device(config)
        except ConfigError as error:
            _config_error(error)


onerror:
    # Snakemake's console says only "check log file(s)": show each failed job's own error line.
    for line in failure_summary(log):
        print(line, file=sys.stderr)
    for leftover in clean_data_temporaries():
        print(f"removed {leftover}, left by a killed data step", file=sys.stderr)


rule all:
    default_target: True
    input:
        f"{REPORTS}/index.html",
        f"{RESULTS}/comparisons.csv",
        # every configured run's files, so that one deleted by hand is made again (and the tables
        # after it), not left out while the report keeps its rows
        [f"{d}/{name}" for d in run_dirs() for name in RUN_FILES.split()],
        f"{RESULTS}/budget_metrics.csv",
        "reports/index.html",
