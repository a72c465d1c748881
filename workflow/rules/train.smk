# Stage 3: one training run per dataset x backbone x variant x seed.
# The resolved run config is a param, so changing any hyper-parameter retrains that run.


rule train:
    input:
        data="data/prepared/{dataset}",
    output:
        model=RUN_DIR + "/model.pt",
        log_csv=RUN_DIR + "/train_log.csv",
        run_json=RUN_DIR + "/run.json",
    params:
        run=lambda w: json.dumps(
            run_config(config, w.dataset, w.backbone, w.variant, int(w.seed)), sort_keys=True
        ),
        out_dir=lambda w: RUN_DIR.format(**w),
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    log:
        "logs/train/" + EXPERIMENT + "/{dataset}/{backbone}/{variant}/seed{seed}.log",
    shell:
        "morse-bench train --run-config {params.run:q} --data {input.data} "
        "--out-dir {params.out_dir} --threads {threads} > {log} 2>&1"
