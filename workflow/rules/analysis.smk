# Stage 5-6: aggregate every run into tidy tables; paired statistics against the baseline.


rule aggregate:
    input:
        metrics=[d + "/metrics.csv" for d in run_dirs()],
        boundary=[d + "/boundary.csv" for d in run_dirs()],
        refinement=[d + "/refinement.csv" for d in run_dirs()],
    output:
        metrics=report(
            RESULTS + "/metrics.csv",
            caption="../report/metrics.rst",
            category="Tables",
        ),
        summary=RESULTS + "/summary.csv",
        empty=RESULTS + "/empty_counts.csv",
        boundary=RESULTS + "/boundary.csv",
        refinement=RESULTS + "/refinement.csv",
    params:
        out_dir=RESULTS,
    log:
        "logs/aggregate/" + EXPERIMENT + ".log",
    shell:
        "morse-bench aggregate --out-dir {params.out_dir} {input.metrics} "
        "--boundary {input.boundary} --refinement {input.refinement} > {log} 2>&1"


rule compare:
    input:
        RESULTS + "/metrics.csv",
    output:
        report(
            RESULTS + "/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Tables",
        ),
    params:
        reference="baseline",
    log:
        "logs/compare/" + EXPERIMENT + ".log",
    shell:
        "morse-bench compare --metrics {input} --out {output} --reference {params.reference} > {log} 2>&1"
