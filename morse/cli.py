"""``morse-bench``: every pipeline step as a sub-command (Snakemake rules call these)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EPILOG = """\
typical use (Snakemake runs these for you):
  morse-bench check --config config/config.yaml
  morse-bench check --config config/config.yaml config/ablations.yaml   # a base and a study over it
  morse-bench fetch --dataset-config '{"kind": "phantom2d"}' --name phantom2d --out data/raw/phantom2d
  morse-bench prepare --dataset-config '{"kind": "phantom2d"}' --name phantom2d \\
      --raw data/raw/phantom2d --out data/prepared/phantom2d
  morse-bench train --config config/config.yaml --dataset phantom2d --backbone unet \\
      --variant morse --seed 0 --data data/prepared/phantom2d --out-dir results/phantom/.../seed0
  morse-bench evaluate --run-dir results/phantom/phantom2d/unet/morse/seed0 --data data/prepared/phantom2d
  morse-bench evaluate-budget --run-dir results/phantom/phantom2d/unet/morse/seed0 --data data/prepared/phantom2d
"""


def _json_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 or more") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of threads; give 1 or more")
    return value


def _distinct_files(paths: list[str], what: str) -> list[Path]:
    """``paths`` as Paths; a file named twice (in any spelling) is refused: its rows would count twice."""
    seen: dict[Path, str] = {}
    for path in paths:
        key = Path(path).resolve()
        if key in seen:
            raise ValueError(f"{what} file {path} is given twice (also as {seen[key]}); its rows would "
                             "count twice: give each run's file once")
        seen[key] = path
    return [Path(p) for p in paths]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming what is missing and where help is."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _claims_path(args: argparse.Namespace, config: dict[str, Any] | None = None) -> Path | None:
    """--claims, else the config's ``claims`` key, else None (the shipped config/claims.yaml)."""
    given = getattr(args, "claims", None) or (config or {}).get("claims")
    return Path(given) if given else None


def cmd_check(args: argparse.Namespace) -> None:
    from morse.analysis.claims import load_claims
    from morse.config import ConfigError, check_device, load_config

    config = load_config(args.config)
    claims = load_claims(_claims_path(args, config))
    if not args.skip_device_check:
        try:
            check_device(config)
        except ConfigError as error:
            raise ConfigError(f"{error} (jobs run on another machine, e.g. a cluster? add --skip-device-check)") from None
    print(f"{' + '.join(args.config)}: valid; experiment {config['experiment']!r}, "
          f"{len(config['datasets'])} dataset(s), {len(config['backbones'])} backbone(s), "
          f"{len(config['variants'])} variant(s), {len(config['seeds'])} seed(s); {len(claims)} claim(s)")


def cmd_list(args: argparse.Namespace) -> None:
    from baselines import available_backbones
    from morse.method import VARIANTS

    print("backbones:", ", ".join(available_backbones()))
    print("variants: ", ", ".join(VARIANTS))


def cmd_fetch(args: argparse.Namespace) -> None:
    from morse.common import remove_stale_temporaries
    from morse.data.recipes.registry import fetch_dataset

    remove_stale_temporaries(Path(args.out))  # of an earlier, killed attempt of this step
    fetch_dataset(args.name, args.dataset_config, Path(args.out))


def cmd_prepare(args: argparse.Namespace) -> None:
    from morse.common import remove_stale_temporaries
    from morse.data.recipes.registry import prepare_dataset

    remove_stale_temporaries(Path(args.out))
    prepare_dataset(args.name, args.dataset_config, Path(args.raw), Path(args.out))


def _run_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The resolved run config of ``train``: --run-config (with --settings), or --config and the
    four flags naming the run."""
    from morse.config import PRETRAIN, load_config, merge_settings, pretrain_config, run_config

    if args.run_config is not None:
        settings = (args.settings or {}).get(args.run_config.get("dataset"))
        return merge_settings(args.run_config, settings) if settings else args.run_config
    if args.config is None:
        raise ValueError("give --run-config JSON, or --config with --dataset, --backbone, --variant and --seed")
    missing = [f"--{flag}" for flag in ("dataset", "backbone", "variant", "seed") if getattr(args, flag) is None]
    if missing:
        raise ValueError(f"--config needs --dataset, --backbone, --variant and --seed; missing {', '.join(missing)}")
    config = load_config(args.config)
    for flag, names in (("dataset", config["datasets"]), ("backbone", config["backbones"]),
                        ("variant", [*config["variants"], PRETRAIN]), ("seed", config["seeds"])):
        if getattr(args, flag) not in names:
            raise ValueError(f"--{flag} {getattr(args, flag)!r} is not in {' + '.join(args.config)} "
                             f"({', '.join(map(str, names))}); add it to the config or pick one of these")
    if args.variant == PRETRAIN:
        return pretrain_config(config, args.dataset, args.backbone, args.seed)
    return run_config(config, args.dataset, args.backbone, args.variant, args.seed)


def cmd_train(args: argparse.Namespace) -> None:
    from morse.engine.train import train_run

    run = _run_from_args(args)
    record = train_run(run, Path(args.data), Path(args.out_dir), threads=args.threads,
                       progress=not args.no_progress,
                       init_from=Path(args.init_from) if args.init_from else None)
    print(f"trained {args.out_dir}: {record['wall_time_s']:.1f} s, {record['iterations_per_s']:.2f} it/s "
          f"on {record['device']}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from morse.engine.evaluate import evaluate_run

    metrics = evaluate_run(Path(args.run_dir), Path(args.data), threads=args.threads,
                           progress=not args.no_progress, settings=args.settings, split=args.split)
    summary = metrics.groupby("output")["dice"].mean()
    print(f"evaluated {args.run_dir}: mean Dice " + ", ".join(f"{k} {v:.4f}" for k, v in summary.items()))


def cmd_evaluate_budget(args: argparse.Namespace) -> None:
    from morse.engine.budget import evaluate_budget

    frame = evaluate_budget(Path(args.run_dir), Path(args.data), threads=args.threads,
                            progress=not args.no_progress, settings=args.settings)
    print(f"evaluated {frame['iteration'].nunique()} snapshot(s) of {args.run_dir} on the test split")


def cmd_aggregate_budget(args: argparse.Namespace) -> None:
    from morse.analysis.inputs.tables import aggregate_budget_metrics
    from morse.common import atomic_path

    frame = aggregate_budget_metrics(_distinct_files(args.budget, "budget metrics"))
    with atomic_path(Path(args.out)) as tmp:
        frame.to_csv(tmp, index=False)
    print(f"aggregated the snapshots of {len(args.budget)} run(s) into {args.out} ({len(frame)} rows)")


def cmd_aggregate(args: argparse.Namespace) -> None:
    from morse.analysis.aggregate import empty_counts, summarise
    from morse.analysis.inputs.tables import aggregate_metrics, read_boundaries, read_refinement
    from morse.common import atomic_path

    metrics = aggregate_metrics(_distinct_files(args.metrics, "metrics"))
    _distinct_files(args.boundary, "boundary")
    _distinct_files(args.refinement, "refinement")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = [("metrics.csv", metrics), ("summary.csv", summarise(metrics)),
              ("empty_counts.csv", empty_counts(metrics))]
    if args.boundary:
        tables.append(("boundary.csv", read_boundaries([Path(p) for p in args.boundary])))
    if args.refinement:
        tables.append(("refinement.csv", read_refinement([Path(p) for p in args.refinement])))
    for name, frame in tables:
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    print(f"aggregated {len(args.metrics)} run(s) into {out}")


def cmd_compare(args: argparse.Namespace) -> None:
    from morse.analysis.claims import claim_pairs, load_claims
    from morse.analysis.compare import compare_tables
    from morse.common import atomic_path

    extra = claim_pairs(load_claims(args.claims)) if args.claims else []
    tables = compare_tables(Path(args.metrics), args.reference, args.resamples, args.seed,
                            refinement=args.refinement, runs=args.runs, pretrain_runs=args.pretrain_runs,
                            references=args.references, budget=args.budget,
                            min_reference_fraction=args.min_reference_fraction, extra_pairs=extra)  # fmt: skip
    out = Path(args.out)
    for name, frame in tables.items():  # all computed first: an error leaves no table behind
        with atomic_path(out if name == "comparisons.csv" else out.with_name(name)) as tmp:
            frame.to_csv(tmp, index=False)
    print(f"wrote {len(tables['comparisons.csv'])} comparison rows to {args.out}, and "
          f"{', '.join(n for n in tables if n != 'comparisons.csv')} beside it")


def cmd_verdicts(args: argparse.Namespace) -> None:
    from morse.analysis.claims import load_claims
    from morse.analysis.inputs.answer import read_verdict_inputs
    from morse.analysis.inputs.regime import read_regime_tables
    from morse.analysis.ranks import rank_stability
    from morse.analysis.regime.heads import head_verdicts, under_trained
    from morse.analysis.verdicts import claim_verdicts, scored_arms
    from morse.common import atomic_path

    claims = load_claims(args.claims)
    read = read_verdict_inputs(Path(args.results), [Path(p) for p in args.runs])
    # the head adequacy the compare step judged (head_adequacy.csv); comparisons.csv's `adequacy`
    # column, when present, already holds it and the backbone's
    heads = read_regime_tables(Path(args.results)).heads
    if heads is None:
        import pandas as pd

        heads = pd.DataFrame()
    verdicts = claim_verdicts(claims, read.comparisons, scored_arms(read.metrics), read.trends,
                              under_trained(heads), set(head_verdicts(heads)))  # fmt: skip
    ranks = rank_stability(read.metrics, n_resamples=args.resamples, seed=args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("verdicts.csv", verdicts), ("rank_stability.csv", ranks)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    counts = verdicts["state"].value_counts()
    print(f"wrote {len(verdicts)} verdict rows ({', '.join(f'{n} {s}' for s, n in counts.items())}) and "
          f"{len(ranks)} rank-stability rows to {out}")


def cmd_index(args: argparse.Namespace) -> None:
    from morse.analysis.report.index import build_index

    path = build_index(Path(args.reports))
    print(f"index: {path}")


def cmd_report(args: argparse.Namespace) -> None:
    from morse.analysis.report import build_report

    path = build_report(args.experiment, Path(args.results), Path(args.out), Path(args.figures),
                        runs=[Path(p) for p in args.runs],
                        pretrain_runs=[Path(p) for p in args.pretrain_runs],
                        reference_results=Path(args.reference) if args.reference else None,
                        config=args.config_json)
    print(f"report: {path}")


def build_parser() -> argparse.ArgumentParser:
    """The ``morse-bench`` argument parser."""
    parser = OneLineParser(
        prog="morse-bench", description="Reproducibility benchmark suite for MORSE (MICCAI 2023).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command", parser_class=OneLineParser)

    p = sub.add_parser("check", help="validate an experiment config (schema, names, head knobs)")
    p.add_argument("--config", required=True, nargs="+",
                   help="YAML experiment config, or a base experiment and its overlays (studies) after it")
    p.add_argument("--skip-device-check", action="store_true",
                   help="do not require a GPU here for device: cuda (the jobs run on another machine)")
    p.add_argument("--claims", help="claims registry to check (default: the config's `claims`, else "
                                    "config/claims.yaml)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("list", help="list the registered backbones and variants")
    p.set_defaults(func=cmd_list)

    for name, func, helptext in (("fetch", cmd_fetch, "download (or generate, for phantoms) a raw dataset"),
                                 ("prepare", cmd_prepare, "convert a raw dataset to the prepared format")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--name", required=True, help="dataset name (config key)")
        p.add_argument("--dataset-config", type=_json_arg, required=True, help="the dataset's config entry as JSON")
        if name == "prepare":
            p.add_argument("--raw", required=True, help="raw dataset directory (the fetch output)")
        p.add_argument("--out", required=True, help="output directory (written atomically)")
        p.set_defaults(func=func)

    p = sub.add_parser("train", help="train one dataset x backbone x variant x seed run")
    p.add_argument("--run-config", type=_json_arg, help="resolved run config as JSON (what Snakemake passes)")
    p.add_argument("--config", nargs="+",
                   help="experiment YAML, or a base and its overlays (alternative to --run-config)")
    p.add_argument("--dataset")
    p.add_argument("--backbone")
    p.add_argument("--variant")
    p.add_argument("--seed", type=int)
    p.add_argument("--data", required=True, help="prepared dataset directory")
    p.add_argument("--out-dir", required=True, help="run folder for model.pt, train_log.csv, run.json")
    p.add_argument("--init-from", help="model.pt of the pretraining run (protocol two_stage)")
    p.add_argument("--settings", type=_json_arg,
                   help="dataset -> settings that do not change the weights (logging, checkpoint "
                        "interval, workers), laid over --run-config; what Snakemake passes")
    p.add_argument("--threads", type=_positive_int, default=1)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_train)

    for name, func, helptext in (
        ("evaluate", cmd_evaluate, "evaluate a trained run on its test split"),
        ("evaluate-budget", cmd_evaluate_budget,
         "evaluate every snapshot of a trained run on its test split (budget_metrics.csv)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--run-dir", required=True)
        p.add_argument("--data", required=True, help="prepared dataset directory")
        p.add_argument("--settings", type=_json_arg,
                       help="evaluation settings as JSON (e.g. {\"slice_batch\": 16, \"window_batch\": 4, \"nsd_tolerance_mm\": 2}), "
                            "replacing those recorded in run.json; what Snakemake passes: the dataset's current ones")
        if name == "evaluate":
            p.add_argument("--split", choices=("test", "val"), default="test",
                           help="the cases to score: test (default) or val, for choosing settings without "
                                "looking at the test split; outputs overwrite the run folder's")
        p.add_argument("--threads", type=_positive_int, default=1)
        p.add_argument("--no-progress", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("aggregate-budget", help="combine per-run budget_metrics.csv files into one table")
    p.add_argument("--out", required=True, help="results/<experiment>/budget_metrics.csv")
    p.add_argument("budget", nargs="+", help="per-run budget_metrics.csv files")
    p.set_defaults(func=cmd_aggregate_budget)

    p = sub.add_parser("aggregate", help="combine per-run metrics.csv files; write summary and empty-mask counts")
    p.add_argument("--out-dir", required=True)
    p.add_argument("metrics", nargs="+", help="per-run metrics.csv files")
    p.add_argument("--boundary", nargs="*", default=[], help="per-run boundary.csv files")
    p.add_argument("--refinement", nargs="*", default=[], help="per-run refinement.csv files")
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser("compare", help="paired statistics of every variant against the reference")
    p.add_argument("--metrics", required=True, help="aggregated metrics.csv")
    p.add_argument("--out", required=True, help="comparisons.csv")
    p.add_argument("--reference", default="baseline")
    p.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    # the regime (docs/regime.md): backbone_adequacy.csv, head_adequacy.csv and the budget tables
    # are written beside --out, and comparisons.csv gains `adequacy` and `budget_trend`
    p.add_argument("--refinement", help="aggregated refinement.csv (head adequacy)")
    p.add_argument("--runs", nargs="*", default=[], help="run.json of every variant run the config resolves")
    p.add_argument("--pretrain-runs", nargs="*", default=[], help="run.json of the backbone pretraining runs")
    p.add_argument("--references", help="published numbers (default: config/reference_results.csv)")
    p.add_argument("--budget", help="aggregated budget_metrics.csv (snapshot metrics on the test split)")
    p.add_argument("--min-reference-fraction", type=float, default=0.9,
                   help="config regime.min_reference_fraction: a baseline below this share of its "
                        "published reference Dice is an under-trained backbone")
    p.add_argument("--claims", help="claims registry: its comparisons between other variants (e.g. MORSE vs "
                                    "PointRend) are added, in the same Holm family")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("verdicts", help="a verdict per claim x dataset x backbone x metric, and rank stability")
    p.add_argument("--results", required=True, help="results/<experiment> (metrics.csv, comparisons.csv, ...)")
    p.add_argument("--runs", nargs="+", required=True, help="run.json of every variant run the config resolves")
    p.add_argument("--claims", help="claims registry (default config/claims.yaml)")
    p.add_argument("--out-dir", required=True, help="where verdicts.csv and rank_stability.csv go")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the rankings")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.set_defaults(func=cmd_verdicts)

    p = sub.add_parser("report", help="render the self-contained HTML report")
    p.add_argument("--experiment", required=True)
    p.add_argument("--results", required=True, help="results/<experiment>")
    p.add_argument("--out", required=True, help="reports/<experiment>/index.html")
    p.add_argument("--figures", required=True, help="figure directory")
    p.add_argument("--runs", nargs="+", required=True,
                   help="run.json of every variant run the config resolves (nothing is globbed)")
    p.add_argument("--pretrain-runs", nargs="*", default=[],
                   help="run.json of the backbone pretraining runs (protocol two_stage)")
    p.add_argument("--reference", help="config/reference_results.csv")
    p.add_argument("--config-json", type=_json_arg, help="resolved experiment config shown in the report")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("index", help="rewrite reports/index.html: every experiment's verdict matrix, linked")
    p.add_argument("--reports", default="reports", help="the reports folder (default: reports)")
    p.set_defaults(func=cmd_index)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``morse-bench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError, NotImplementedError) as error:
        print(f"morse-bench {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
