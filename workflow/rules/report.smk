# Stage 7: figures and the self-contained HTML report people open.


rule report:
    input:
        metrics=RESULTS + "/metrics.csv",
        summary=RESULTS + "/summary.csv",
        empty=RESULTS + "/empty_counts.csv",
        boundary=RESULTS + "/boundary.csv",
        comparisons=RESULTS + "/comparisons.csv",
        runs=[d + "/run.json" for d in run_dirs()],
        qualitative=[d + "/qualitative.npz" for d in run_dirs()],
        reference=os.path.join(workflow.basedir, "config", "reference_results.csv"),
    output:
        html=report(REPORTS + "/index.html", caption="../report/index.rst", category="Report"),
        figures=directory(REPORTS + "/figures"),
    params:
        results=RESULTS,
        config=json.dumps(config, sort_keys=True, default=str),
    log:
        "logs/report/" + EXPERIMENT + ".log",
    shell:
        "morse-bench report --experiment {EXPERIMENT:q} --results {params.results:q} "
        "--out {output.html:q} --figures {output.figures:q} --reference {input.reference:q} "
        "--config-json {params.config:q} > {log:q} 2>&1"
