# Stage 4: per-case metrics on the test split, both outputs (coarse, refined) for head variants.


rule evaluate:
    input:
        data="data/prepared/{dataset}",
        model=f"{RUN_DIR}/model.pt",
        run_json=f"{RUN_DIR}/run.json",
    output:
        metrics=f"{RUN_DIR}/metrics.csv",
        boundary=f"{RUN_DIR}/boundary.csv",
        refinement=f"{RUN_DIR}/refinement.csv",
        qualitative=f"{RUN_DIR}/qualitative.npz",
    log:
        f"logs/evaluate/{EXPERIMENT}/{{dataset}}/{{backbone}}/{{variant}}/seed{{seed}}.log",
    conda:
        "../envs/morse-bench.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    params:
        run_dir=lambda w: RUN_DIR.format(**w),
        # this dataset's evaluation settings: changed, they re-evaluate and retrain nothing
        settings=lambda w: json.dumps(evaluation_settings(config, w.dataset), sort_keys=True),
    shell:
        "morse-bench evaluate --run-dir {params.run_dir:q} --data {input.data:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


# The snapshots of a run (run.json lists them) on the test split, with the evaluate step's metric
# code: budget_metrics.csv (no boundary, refinement or qualitative outputs). A run without
# snapshots gets a header and no rows.
rule evaluate_budget:
    input:
        data="data/prepared/{dataset}",
        model=f"{RUN_DIR}/model.pt",
        run_json=f"{RUN_DIR}/run.json",
    output:
        budget=f"{RUN_DIR}/budget_metrics.csv",
    log:
        f"logs/evaluate_budget/{EXPERIMENT}/{{dataset}}/{{backbone}}/{{variant}}/seed{{seed}}.log",
    conda:
        "../envs/morse-bench.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=1 if USE_GPU else 0,
    params:
        run_dir=lambda w: RUN_DIR.format(**w),
        settings=lambda w: json.dumps(evaluation_settings(config, w.dataset), sort_keys=True),
    shell:
        "morse-bench evaluate-budget --run-dir {params.run_dir:q} --data {input.data:q} "
        "--settings {params.settings:q} --threads {threads} > {log:q} 2>&1"
