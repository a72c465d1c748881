# Helper functions of the workflow. They read the globals the Snakefile defines (config, MATRIX,
# SEEDS, RUN_DIR, PRETRAIN_DIR) when they are called, not when this file is included.

from morse.config import run_identity


def _config_error(error):
    sys.exit(f"morse-bench config error: {error}")


def run_params(run):
    """A run config as the train rules' params: only what changes the weights, so that a changed
    logging, checkpoint-interval or loader-worker setting (or, on CUDA, the thread count) does
    not retrain (RUN_SETTINGS carries those)."""
    return json.dumps(run_identity(run), sort_keys=True)


def run_dirs():
    """The run folders the config resolves: every (dataset, backbone, variant) of MATRIX x seed."""
    return [
        RUN_DIR.format(dataset=dataset, backbone=backbone, variant=variant, seed=seed)
        for dataset, backbone, variant in MATRIX
        for seed in SEEDS
    ]


def pretrained_model(wildcards):
    """The pretraining run's model.pt under protocol two_stage, nothing otherwise."""
    if config["protocol"] != "two_stage":
        return []
    return [f"{PRETRAIN_DIR.format(**wildcards)}/model.pt"]


def pretrain_dirs():
    """The backbone pretraining runs the config resolves (protocol two_stage; none otherwise)."""
    if config["protocol"] != "two_stage":
        return []
    pairs = sorted({(dataset, backbone) for dataset, backbone, _ in MATRIX})
    return [PRETRAIN_DIR.format(dataset=d, backbone=b, seed=s) for d, b in pairs for s in SEEDS]


def _produced(path):
    """Whether a step of the workflow produces the file ``path``: the regime's inputs below exist
    only where the training side writes them."""
    return any(producer.is_producer(path) for producer in workflow.rules)


def budget_metrics(wildcards):
    """results/<experiment>/budget_metrics.csv (every snapshot's test metrics) where a step of the
    workflow produces it; none otherwise, and compare then says "not available" for every trend."""
    path = f"{RESULTS}/budget_metrics.csv"
    return [path] if _produced(path) else []


def validation_logs(wildcards):
    """val_log.csv of the pretrain and baseline runs (the backbone's validation curve) where the
    train rules write one; none otherwise."""
    baseline = [
        RUN_DIR.format(dataset=dataset, backbone=backbone, variant=variant, seed=seed)
        for dataset, backbone, variant in MATRIX
        if variant == "baseline"
        for seed in SEEDS
    ]
    logs = [f"{d}/val_log.csv" for d in pretrain_dirs() + baseline]
    return logs if all(_produced(log) for log in logs) else []
