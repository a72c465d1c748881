# Stage 4: per-case metrics on the test split, both outputs (coarse, refined) for head variants.


rule evaluate:
    input:
        data="data/prepared/{dataset}",
        model=RUN_DIR + "/model.pt",
        run_json=RUN_DIR + "/run.json",
    output:
        metrics=RUN_DIR + "/metrics.csv",
        boundary=RUN_DIR + "/boundary.csv",
        refinement=RUN_DIR + "/refinement.csv",
        qualitative=RUN_DIR + "/qualitative.npz",
    params:
        run_dir=lambda w: RUN_DIR.format(**w),
        settings=json.dumps(config["evaluate"], sort_keys=True),  # changed: re-evaluate, not retrain
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    log:
        "logs/evaluate/" + EXPERIMENT + "/{dataset}/{backbone}/{variant}/seed{seed}.log",
    shell:
        "morse-bench evaluate --run-dir {params.run_dir:q} --data {input.data:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"
