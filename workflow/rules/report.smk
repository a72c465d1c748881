# Stage 7: figures and the self-contained HTML report people open.


def pretrain_dirs():
    """The backbone pretraining runs the config resolves (protocol two_stage; none otherwise)."""
    if config["protocol"] != "two_stage":
        return []
    pairs = sorted({(dataset, backbone) for dataset, backbone, _ in MATRIX})
    return [PRETRAIN_DIR.format(dataset=d, backbone=b, seed=s) for d, b in pairs for s in SEEDS]


rule report:
    input:
        metrics=RESULTS + "/metrics.csv",
        summary=RESULTS + "/summary.csv",
        empty=RESULTS + "/empty_counts.csv",
        boundary=RESULTS + "/boundary.csv",
        comparisons=RESULTS + "/comparisons.csv",
        refinement=RESULTS + "/refinement.csv",  # read from --results (section "Is the head trained?")
        # exactly the runs the config resolves (never a glob of the results folder)
        runs=[d + "/run.json" for d in run_dirs()],
        pretrain_runs=[d + "/run.json" for d in pretrain_dirs()],
        logs=[d + "/train_log.csv" for d in run_dirs()],
        qualitative=[d + "/qualitative.npz" for d in run_dirs()],
        reference=os.path.join(workflow.basedir, "config", "reference_results.csv"),
    output:
        html=report(REPORTS + "/index.html", caption="../report/index.rst", category="Report"),
        figures=directory(REPORTS + "/figures"),
    params:
        results=RESULTS,
        config=lambda w: json.dumps(config, sort_keys=True, default=str),  # a function: "{case}" in layouts is no wildcard
    log:
        "logs/report/" + EXPERIMENT + ".log",
    shell:
        "morse-bench report --experiment {EXPERIMENT:q} --results {params.results:q} "
        "--out {output.html:q} --figures {output.figures:q} --reference {input.reference:q} "
        "--runs {input.runs:q} --pretrain-runs {input.pretrain_runs:q} "
        "--config-json {params.config:q} > {log:q} 2>&1"
