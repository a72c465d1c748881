# Stage 1-2: fetch (download, or generate phantoms deterministically) and prepare.


rule fetch:
    output:
        directory("data/raw/{dataset}"),
    params:
        entry=lambda w: json.dumps(config["datasets"][w.dataset], sort_keys=True),
    log:
        "logs/fetch/{dataset}.log",
    shell:
        "morse-bench fetch --name {wildcards.dataset} --dataset-config {params.entry:q} "
        "--out {output} > {log} 2>&1"


rule prepare:
    input:
        "data/raw/{dataset}",
    output:
        directory("data/prepared/{dataset}"),
    params:
        entry=lambda w: json.dumps(config["datasets"][w.dataset], sort_keys=True),
    log:
        "logs/prepare/{dataset}.log",
    shell:
        "morse-bench prepare --name {wildcards.dataset} --dataset-config {params.entry:q} "
        "--raw {input} --out {output} > {log} 2>&1"
