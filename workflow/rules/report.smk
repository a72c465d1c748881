# Stage 7: figures and the self-contained HTML report people open.


rule report:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        summary=f"{RESULTS}/summary.csv",
        empty=f"{RESULTS}/empty_counts.csv",
        boundary=f"{RESULTS}/boundary.csv",
        comparisons=f"{RESULTS}/comparisons.csv",
        refinement=f"{RESULTS}/refinement.csv",  # read from --results (section "Is the head trained?")
        # the compare step's regime tables, read from --results, and the backbone's validation curve
        backbones=f"{RESULTS}/backbone_adequacy.csv",
        heads=f"{RESULTS}/head_adequacy.csv",
        budget=f"{RESULTS}/budget_comparisons.csv",
        trends=f"{RESULTS}/budget_trends.csv",
        ablation_trends=f"{RESULTS}/ablation_trends.csv",  # read from --results (the ablation figure)
        val_logs=validation_logs,
        verdicts=f"{RESULTS}/verdicts.csv",  # read from --results (the answer at the top)
        ranks=f"{RESULTS}/rank_stability.csv",
        # exactly the runs the config resolves (never a glob of the results folder)
        runs=[f"{d}/run.json" for d in run_dirs()],
        pretrain_runs=[f"{d}/run.json" for d in pretrain_dirs()],
        logs=[f"{d}/train_log.csv" for d in run_dirs()],
        qualitative=[f"{d}/qualitative.npz" for d in run_dirs()],
        reference=os.path.join(workflow.basedir, "config", "reference_results.csv"),
    output:
        html=report(f"{REPORTS}/index.html", caption="../report/index.rst", category="Report"),
        figures=directory(f"{REPORTS}/figures"),
        summary=f"{REPORTS}/verdicts.json",  # what reports/index.html shows
    log:
        f"logs/report/{EXPERIMENT}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        experiment=EXPERIMENT,
        results=lambda w, input: os.path.dirname(input.metrics),  # results/<experiment>
        # a function: "{case}" in layouts is no wildcard
        config=lambda w: json.dumps(config, sort_keys=True, default=str),
    shell:
        "morse-bench report --experiment {params.experiment:q} --results {params.results:q} "
        "--out {output.html:q} --figures {output.figures:q} --reference {input.reference:q} "
        "--runs {input.runs:q} --pretrain-runs {input.pretrain_runs:q} "
        "--config-json {params.config:q} > {log:q} 2>&1"


# Every experiment under reports/ in one page: rewritten after this experiment's report (the other
# experiments' summaries are read as they are; `morse-bench index` rebuilds it by hand).
rule index:
    input:
        f"{REPORTS}/verdicts.json",
    output:
        report("reports/index.html", caption="../report/experiments.rst", category="Report"),
    log:
        f"logs/index/{EXPERIMENT}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        reports=lambda w, output: os.path.dirname(output[0]),  # reports/
    shell:
        "morse-bench index --reports {params.reports:q} > {log:q} 2>&1"
