# Stage 1-2: fetch (download, or generate phantoms deterministically) and prepare.


# Each data step gets only the keys of the dataset entry that change its output
# (morse/config/stages.py): an evaluation, training or variant setting re-fetches and
# re-prepares nothing. A source: local dataset's files are fingerprinted (paths, sizes, mtimes:
# morse/data/sources/fingerprint.py) at every start of the workflow; a changed fingerprint
# re-fetches (a marker) and so re-prepares that dataset and retrains what depends on it.


rule fetch:
    # Removes its own stale temporary folder (data/raw/.tmp-<hex>-<dataset>) of a killed attempt.
    output:
        directory("data/raw/{dataset}"),
    log:
        "logs/fetch/{dataset}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        entry=lambda w: json.dumps(source_entry(config["datasets"][w.dataset]), sort_keys=True),
        fingerprint=lambda w: local_dataset_fingerprint(config["datasets"][w.dataset]),
    shell:
        "morse-bench fetch --name {wildcards.dataset:q} --dataset-config {params.entry:q} "
        "--out {output:q} > {log:q} 2>&1"


rule prepare:
    input:
        "data/raw/{dataset}",
    output:
        directory("data/prepared/{dataset}"),
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        entry=lambda w: json.dumps(prepare_entry(config["datasets"][w.dataset]), sort_keys=True),
    shell:
        "morse-bench prepare --name {wildcards.dataset:q} --dataset-config {params.entry:q} "
        "--raw {input:q} --out {output:q} > {log:q} 2>&1"
