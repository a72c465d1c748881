"""Choose the default experiment's training budget on validation cases only.

    .venv/bin/python benchmarks/head_budget.py --dataset phantom2d \
        --candidate ramp200='{}' \
        --candidate const600='{"train": {"iterations": 600}, "method": {"point_loss_schedule": "constant"}}'

For one dataset of ``--config`` (default ``config/config.yaml``) this prepares a copy of the data
whose training cases are split once more into ``train`` and ``val`` (``--val-cases`` of them),
checks that its test split is exactly the config's test split (it is never evaluated), then, per
candidate and seed, trains the config's variants (pretraining included under ``two_stage``) with
the candidate's overrides and evaluates them on the ``val`` cases. A candidate is a JSON object of
top-level config keys merged one level deep (``train``, ``method``, ...; ``variants`` replaces
the config's), and a
dataset-level ``train`` override of the config keeps precedence, so give 3D budgets as
``{"datasets_train": {...}}``.

Per run it records what the default must pass: the refinement's fixed and broken pixels
at the overwritten val pixels (``refinement.csv``, all steps), the point loss's plateau flag
(``run.json``), the val Dice of both outputs and the training wall time. Outputs under ``--out``
(default ``benchmarks/results/head_budget/``): ``head_budget.csv`` (one row per run),
``learning_curves.csv`` (the head's and the coarse logits' point loss per logged iteration) and
``head_budget.png`` (those curves per candidate and variant). Runs already trained with the same
identity are reused. Numbers, not assertions; ``docs/head_budget.md`` records what was decided.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from morse.config import PRETRAIN, load_config, pretrain_config, run_config, validate_config  # noqa: E402
from morse.data.prepared.format import read_dataset_info  # noqa: E402
from morse.data.recipes.registry import fetch_dataset, prepare_dataset  # noqa: E402


def _merge(config: dict[str, Any], candidate: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The config with the candidate's top-level keys merged one level deep (``variants``
    replaced: the candidate's are the variants trained)."""
    merged = json.loads(json.dumps(config))
    merged["datasets"] = {dataset: merged["datasets"][dataset]}  # the others are not trained here
    merged["backbones"] = {b: merged["backbones"][b] for b in merged["datasets"][dataset]["backbones"]}
    for key, value in candidate.items():
        if key == "datasets_train":
            merged["datasets"][dataset].setdefault("train", {}).update(value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "variants":
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def tuning_dataset(config: dict[str, Any], dataset: str, val_cases: int, out: Path) -> Path:
    """Prepare ``dataset`` with ``val_cases`` of its training cases moved to ``val``; refuse
    unless the test split is the config's own. Returns the prepared directory. The phantom's own
    validation cases (``n_val_cases``) are left out: the budget was chosen without them."""
    entry = dict(config["datasets"][dataset])
    if "phantom" in entry:
        entry["phantom"] = {k: v for k, v in entry["phantom"].items() if k != "n_val_cases"}
    reference_dir, prepared = out / "data" / "reference", out / "data" / "prepared"
    raw = out / "data" / "raw"
    if not raw.exists():
        fetch_dataset(dataset, entry, raw)
    if not reference_dir.exists():
        prepare_dataset(dataset, entry, raw, reference_dir)
    reference = read_dataset_info(reference_dir)
    n_cases = len(reference.cases)
    split = {**entry.get("split", {}), "val_fraction": val_cases / n_cases}
    if not prepared.exists():
        prepare_dataset(dataset, {**entry, "split": split}, raw, prepared)
    info = read_dataset_info(prepared)
    if sorted(info.splits["test"]) != sorted(reference.splits["test"]):
        shutil.rmtree(prepared)
        raise SystemExit(f"the tuning split's test cases differ from the config's; refusing "
                         f"({info.splits['test']} vs {reference.splits['test']})")
    assert set(info.splits["val"]) <= set(reference.splits["train"]) | set(reference.splits["val"])
    print(f"{dataset}: {len(info.splits['train'])} train, {len(info.splits['val'])} val "
          f"(from the config's training and validation cases), test untouched", flush=True)
    return prepared


def _train_and_score(job: dict[str, Any]) -> dict[str, Any]:
    """One run: train (or reuse) and, for variants, evaluate on the val cases."""
    from morse.analysis.inputs.tables import read_refinement
    from morse.analysis.refinement import refinement_totals
    from morse.engine.evaluate import evaluate_run
    from morse.engine.train import train_run
    from morse.evaluation.convergence import point_loss_plateau

    run, out_dir, data = job["run"], Path(job["out_dir"]), Path(job["data"])
    record_path = out_dir / "run.json"
    fresh = not record_path.exists() or json.loads(record_path.read_text())["config_hash"] != run["config_hash"]
    if fresh:
        init = Path(job["init"]) if job.get("init") else None
        train_run(run, data, out_dir, threads=1, progress=False, init_from=init)
    record = json.loads(record_path.read_text())
    row = {"candidate": job["candidate"], "variant": run["variant"], "seed": run["seed"],
           "iterations": run["train"]["iterations"], "wall_time_s": record["wall_time_s"]}
    if run["variant"] == PRETRAIN:
        return row
    metrics = evaluate_run(out_dir, data, progress=False, split="val")
    for output, dice in metrics.groupby("output")["dice"].mean().items():
        row[f"val_dice_{output}"] = float(dice)
    refinement = read_refinement([out_dir / "refinement.csv"])
    if len(refinement):
        totals = refinement_totals(refinement)
        every = totals[totals["step"] == "all"].iloc[0]
        row.update(fixed=int(every["fixed"]), broken=int(every["broken"]),
                   overwritten=int(every["overwritten"]),
                   coarse_accuracy=float(every["coarse_accuracy"]),
                   refined_accuracy=float(every["refined_accuracy"]))
    # the plateau from the log with the current criterion (a reused run.json may predate it)
    log = pd.read_csv(out_dir / "train_log.csv")
    if not log["coarse_point_loss"].isna().all():
        plateau = point_loss_plateau(log["iteration"], log["point_loss"], run["train"]["iterations"])
        row.update(converged=plateau["converged"], relative_change=plateau["relative_change"],
                   relative_change_se=plateau["relative_change_se"])
    return row


def plan_jobs(config: dict[str, Any], candidates: dict[str, dict[str, Any]], dataset: str,
              seeds: list[int], data: Path, out: Path) -> tuple[list[dict], list[dict]]:
    """(pretraining jobs, variant jobs); pretraining shared between candidates of equal identity."""
    pretrains: dict[str, dict[str, Any]] = {}
    variants = []
    for name, candidate in candidates.items():
        merged = validate_config(_merge(config, candidate, dataset))
        backbone = merged["datasets"][dataset]["backbones"][0]
        chosen = merged["datasets"][dataset].get("variants") or list(merged["variants"])
        for seed in seeds:
            init = None
            if merged.get("protocol") == "two_stage":
                pre = pretrain_config(merged, dataset, backbone, seed)
                pre_dir = out / "runs" / f"{PRETRAIN}-{pre['config_hash'][:10]}"
                pretrains.setdefault(pre["config_hash"], {"run": pre, "out_dir": str(pre_dir),
                                                          "data": str(data), "candidate": name})
                init = str(pre_dir / "model.pt")
            for variant in chosen:
                run = run_config(merged, dataset, backbone, variant, seed)
                variants.append({"run": run, "data": str(data), "init": init, "candidate": name,
                                 "out_dir": str(out / "runs" / name / variant / f"seed{seed}")})
    return list(pretrains.values()), variants


def learning_curves(jobs: list[dict[str, Any]]) -> pd.DataFrame:
    """The logged point losses of every head run, tidy: candidate, variant, seed, iteration,
    which (head / coarse at the same points), point_loss."""
    frames = []
    for job in jobs:
        log = pd.read_csv(Path(job["out_dir"]) / "train_log.csv")
        if log["coarse_point_loss"].isna().all():  # no head
            continue
        for which, column in (("head", "point_loss"), ("coarse", "coarse_point_loss")):
            frames.append(pd.DataFrame({
                "candidate": job["candidate"], "variant": job["run"]["variant"],
                "seed": job["run"]["seed"], "iteration": log["iteration"], "which": which,
                "point_loss": log[column]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_curves(curves: pd.DataFrame, path: Path) -> None:
    """One panel per candidate x variant: head and coarse point loss against iteration."""
    import seaborn as sns

    grid = sns.relplot(data=curves, x="iteration", y="point_loss", hue="which", style="which",
                       units="seed", estimator=None, col="variant", row="candidate", kind="line",
                       height=2.2, aspect=1.3, linewidth=0.8, facet_kws={"sharex": "row"})
    grid.set_titles("{row_name} | {col_name}")
    grid.set_axis_labels("joint iteration", "point CE")
    grid.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--candidate", action="append", required=True, metavar="NAME=JSON")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--val-cases", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one thread each")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "head_budget"))
    args = parser.parse_args(argv)

    config = load_config(args.config)
    if args.dataset not in config["datasets"]:
        parser.error(f"--dataset {args.dataset!r} is not in {args.config}: {', '.join(config['datasets'])}")
    candidates = {}
    for text in args.candidate:
        name, sep, payload = text.partition("=")
        if not sep:
            parser.error(f"--candidate {text!r}: write NAME=JSON")
        try:
            candidates[name] = json.loads(payload)
        except json.JSONDecodeError as error:
            parser.error(f"--candidate {name}: not JSON ({error}); e.g. {name}='{{\"train\": {{\"iterations\": 600}}}}'")
        if not isinstance(candidates[name], dict):
            parser.error(f"--candidate {name}: give a JSON object of config keys")
    out = Path(args.out) / args.dataset
    data = tuning_dataset(config, args.dataset, args.val_cases, out)
    pretrains, variants = plan_jobs(config, candidates, args.dataset, args.seeds, data, out)
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(_train_and_score, pretrains):
            rows.append(row)
        for row in pool.map(_train_and_score, variants):
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out / "head_budget.csv", index=False)
    curves = learning_curves(variants)
    curves.to_csv(out / "learning_curves.csv", index=False)
    if len(curves):
        plot_curves(curves, out / "head_budget.png")
    columns = [c for c in ("candidate", "variant", "seed", "iterations", "fixed", "broken",
                           "converged", "relative_change", "relative_change_se", "val_dice_coarse", "val_dice_refined",
                           "wall_time_s") if c in table]
    print(table[columns].to_string(index=False))


if __name__ == "__main__":
    main()
