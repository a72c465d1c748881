# Stage 5-6: aggregate the runs the config resolves (the declared inputs, never a glob of the
# results folder) into tidy tables; paired statistics against the baseline.


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
        "morse-bench aggregate --out-dir {params.out_dir:q} {input.metrics:q} "
        "--boundary {input.boundary:q} --refinement {input.refinement:q} > {log:q} 2>&1"


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
        "morse-bench compare --metrics {input:q} --out {output:q} --reference {params.reference:q} "
        "> {log:q} 2>&1"
