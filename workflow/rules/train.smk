# Stage 3: training. One run per dataset x backbone x variant x seed; under protocol two_stage a
# backbone-only `pretrain` run per dataset x backbone x seed feeds every variant (the authors' code).
# The run's identity (what changes the weights) is a param, so changing a hyper-parameter retrains
# exactly that run; logging / checkpoint-interval / loader-worker settings travel in RUN_SETTINGS.

PRETRAIN_DIR = RESULTS + "/{dataset}/{backbone}/pretrain/seed{seed}"


def pretrained_model(wildcards):
    """The pretraining run's model.pt under protocol two_stage, nothing otherwise."""
    if config["protocol"] != "two_stage":
        return []
    return [PRETRAIN_DIR.format(**wildcards) + "/model.pt"]


rule pretrain:
    input:
        data="data/prepared/{dataset}",
    output:
        model=PRETRAIN_DIR + "/model.pt",
        log_csv=PRETRAIN_DIR + "/train_log.csv",
        run_json=PRETRAIN_DIR + "/run.json",
    params:
        run=lambda w: run_params(pretrain_config(config, w.dataset, w.backbone, int(w.seed))),
        out_dir=lambda w: PRETRAIN_DIR.format(**w),
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    log:
        "logs/pretrain/" + EXPERIMENT + "/{dataset}/{backbone}/seed{seed}.log",
    shell:
        "morse-bench train --run-config {params.run:q} --settings {RUN_SETTINGS:q} --data {input.data:q} "
        "--out-dir {params.out_dir:q} --threads {threads} > {log:q} 2>&1"


rule train:
    input:
        data="data/prepared/{dataset}",
        init=pretrained_model,
    output:
        model=RUN_DIR + "/model.pt",
        log_csv=RUN_DIR + "/train_log.csv",
        run_json=RUN_DIR + "/run.json",
    params:
        run=lambda w: run_params(run_config(config, w.dataset, w.backbone, w.variant, int(w.seed))),
        out_dir=lambda w: RUN_DIR.format(**w),
        init=lambda w, input: f"--init-from {shlex.quote(input.init[0])}" if input.init else "",
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    log:
        "logs/train/" + EXPERIMENT + "/{dataset}/{backbone}/{variant}/seed{seed}.log",
    shell:
        "morse-bench train --run-config {params.run:q} --settings {RUN_SETTINGS:q} --data {input.data:q} "
        "{params.init} --out-dir {params.out_dir:q} --threads {threads} > {log:q} 2>&1"
