# Stage 5-6: aggregate the runs the config resolves (the declared inputs, never a glob of the
# results folder) into tidy tables; paired statistics against the baseline (and the claims'
# other pairs); a verdict per claim and the rank stability of the variants.


rule aggregate:
    input:
        metrics=[f"{d}/metrics.csv" for d in run_dirs()],
        boundary=[f"{d}/boundary.csv" for d in run_dirs()],
        refinement=[f"{d}/refinement.csv" for d in run_dirs()],
    output:
        metrics=report(
            f"{RESULTS}/metrics.csv",
            caption="../report/metrics.rst",
            category="Tables",
        ),
        summary=f"{RESULTS}/summary.csv",
        empty=f"{RESULTS}/empty_counts.csv",
        boundary=f"{RESULTS}/boundary.csv",
        refinement=f"{RESULTS}/refinement.csv",
    log:
        f"logs/aggregate/{EXPERIMENT}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        out_dir=lambda w, output: os.path.dirname(output.metrics),  # results/<experiment>
    shell:
        "morse-bench aggregate --out-dir {params.out_dir:q} {input.metrics:q} "
        "--boundary {input.boundary:q} --refinement {input.refinement:q} > {log:q} 2>&1"


rule compare:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        claims=CLAIMS,
    output:
        report(
            f"{RESULTS}/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Tables",
        ),
    log:
        f"logs/compare/{EXPERIMENT}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        reference="baseline",
    shell:
        "morse-bench compare --metrics {input.metrics:q} --out {output:q} --reference {params.reference:q} "
        "--claims {input.claims:q} > {log:q} 2>&1"


rule verdicts:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        comparisons=f"{RESULTS}/comparisons.csv",
        refinement=f"{RESULTS}/refinement.csv",  # read from --results (head adequacy)
        runs=[f"{d}/run.json" for d in run_dirs()],
        claims=CLAIMS,
    output:
        verdicts=report(
            f"{RESULTS}/verdicts.csv",
            caption="../report/verdicts.rst",
            category="Tables",
        ),
        ranks=report(
            f"{RESULTS}/rank_stability.csv",
            caption="../report/rank_stability.rst",
            category="Tables",
        ),
    log:
        f"logs/verdicts/{EXPERIMENT}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        results=lambda w, input: os.path.dirname(input.metrics),  # results/<experiment>
    shell:
        "morse-bench verdicts --results {params.results:q} --runs {input.runs:q} "
        "--claims {input.claims:q} --out-dir {params.results:q} > {log:q} 2>&1"
