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


# The snapshots' test metrics of every run the config resolves, in one table.
rule aggregate_budget:
    input:
        [f"{d}/budget_metrics.csv" for d in run_dirs()],
    output:
        f"{RESULTS}/budget_metrics.csv",
    log:
        f"logs/aggregate_budget/{EXPERIMENT}.log",
    conda:
        "../envs/morse-bench.yaml"
    shell:
        "morse-bench aggregate-budget --out {output:q} {input:q} > {log:q} 2>&1"


rule compare:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        # the regime (docs/regime.md): head and backbone adequacy, the effect across the budget
        refinement=f"{RESULTS}/refinement.csv",
        runs=[f"{d}/run.json" for d in run_dirs()],
        pretrain_runs=[f"{d}/run.json" for d in pretrain_dirs()],
        reference=os.path.join(workflow.basedir, "config", "reference_results.csv"),
        budget=budget_metrics,
        claims=CLAIMS,
    output:
        comparisons=report(
            f"{RESULTS}/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Tables",
        ),
        backbones=f"{RESULTS}/backbone_adequacy.csv",
        heads=f"{RESULTS}/head_adequacy.csv",
        budget=f"{RESULTS}/budget_comparisons.csv",
        trends=f"{RESULTS}/budget_trends.csv",
        # the trend over each ablated knob (docs/metrics.md), read by the verdicts and the report
        ablation_trends=f"{RESULTS}/ablation_trends.csv",
    log:
        f"logs/compare/{EXPERIMENT}.log",
    conda:
        "../envs/morse-bench.yaml"
    params:
        reference="baseline",
        min_fraction=config["regime"]["min_reference_fraction"],
        budget=lambda w, input: (f"--budget {shlex.quote(input.budget[0])}" if input.budget else ""),
    shell:
        "morse-bench compare --metrics {input.metrics:q} --out {output.comparisons:q} "
        "--reference {params.reference:q} --refinement {input.refinement:q} "
        "--runs {input.runs:q} --pretrain-runs {input.pretrain_runs:q} "
        "--references {input.reference:q} {params.budget} "
        "--min-reference-fraction {params.min_fraction} --claims {input.claims:q} > {log:q} 2>&1"


rule verdicts:
    input:
        metrics=f"{RESULTS}/metrics.csv",
        comparisons=f"{RESULTS}/comparisons.csv",
        refinement=f"{RESULTS}/refinement.csv",  # read from --results (head adequacy)
        ablation_trends=f"{RESULTS}/ablation_trends.csv",  # read from --results (trend claims)
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
