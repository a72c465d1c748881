# Stage 3: training. One run per dataset x backbone x variant x seed; under protocol two_stage a
# backbone-only `pretrain` run per dataset x backbone x seed feeds every variant (the authors' code).
# The run's identity (what changes the weights) is a param, so changing a hyper-parameter retrains
# exactly that run. Logging / checkpoint-interval / loader-worker settings (RUN_SETTINGS) are recorded
# in run.json but must not retrain: their param is a function of `input`, and Snakemake leaves
# params derived from the input out of its params-change check (input changes are caught anyway).
# The snapshots a run writes (snapshots/, listed in run.json) are not declared outputs: Snakemake
# would delete them before rerunning an interrupted job, and the resumed run could not write the
# earlier ones again. Changing train.snapshots therefore does not retrain (--forcerun train does).


rule pretrain:
    input:
        data="data/prepared/{dataset}",
    output:
        model=f"{PRETRAIN_DIR}/model.pt",
        log_csv=f"{PRETRAIN_DIR}/train_log.csv",
        val_log=f"{PRETRAIN_DIR}/val_log.csv",
        run_json=f"{PRETRAIN_DIR}/run.json",
    log:
        f"logs/pretrain/{EXPERIMENT}/{{dataset}}/{{backbone}}/seed{{seed}}.log",
    conda:
        "../envs/morse-bench.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    params:
        run=lambda w: run_params(pretrain_config(config, w.dataset, w.backbone, int(w.seed))),
        settings=lambda w, input: RUN_SETTINGS,
        out_dir=lambda w: PRETRAIN_DIR.format(**w),
    shell:
        "morse-bench train --run-config {params.run:q} --settings {params.settings:q} --data {input.data:q} "
        "--out-dir {params.out_dir:q} --threads {threads} > {log:q} 2>&1"


rule train:
    input:
        data="data/prepared/{dataset}",
        init=pretrained_model,
    output:
        model=f"{RUN_DIR}/model.pt",
        log_csv=f"{RUN_DIR}/train_log.csv",
        val_log=f"{RUN_DIR}/val_log.csv",
        run_json=f"{RUN_DIR}/run.json",
    log:
        f"logs/train/{EXPERIMENT}/{{dataset}}/{{backbone}}/{{variant}}/seed{{seed}}.log",
    conda:
        "../envs/morse-bench.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    params:
        run=lambda w: run_params(run_config(config, w.dataset, w.backbone, w.variant, int(w.seed))),
        settings=lambda w, input: RUN_SETTINGS,
        out_dir=lambda w: RUN_DIR.format(**w),
        init=lambda w, input: f"--init-from {shlex.quote(input.init[0])}" if input.init else "",
    shell:
        "morse-bench train --run-config {params.run:q} --settings {params.settings:q} --data {input.data:q} "
        "{params.init} --out-dir {params.out_dir:q} --threads {threads} > {log:q} 2>&1"
