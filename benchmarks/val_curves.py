"""Validation Dice through the joint stage, one line per run: where a head's coarse output falls
behind the baseline's.

    .venv/bin/python benchmarks/val_curves.py --out docs/figures/head_cost_val_dice.png \
        baseline=results/phantom/phantom2d/unet/baseline/seed0 \
        morse=results/phantom/phantom2d/unet/morse/seed0 ...

Each ``NAME=RUN_DIR`` reads the run's ``val_log.csv`` (the coarse output's mean foreground Dice
on the validation cases, every ``train.validate_every`` iterations); the figure and a CSV of the
curves (next to it, same stem) are written. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def read_curves(runs: dict[str, Path]) -> pd.DataFrame:
    """Tidy table: run, iteration (of the stage), val_dice."""
    frames = []
    for name, run_dir in runs.items():
        log = pd.read_csv(Path(run_dir) / "val_log.csv")
        frames.append(log.assign(run=name)[["run", "iteration", "val_dice"]])
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN_DIR")
    parser.add_argument("--out", type=Path, required=True, help="figure path (.png)")
    parser.add_argument("--title", default="validation Dice of the coarse output, joint stage")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep or not name:
            parser.error(f"expected NAME=RUN_DIR, got {item!r}")
        runs[name] = Path(path)
    curves = read_curves(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    curves.to_csv(args.out.with_suffix(".csv"), index=False)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    sns.lineplot(data=curves, x="iteration", y="val_dice", hue="run", ax=ax, marker="o", markersize=3)
    ax.set(xlabel="joint-stage iteration", ylabel="validation Dice (coarse)", ylim=(0, 1), title=args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(curves.groupby("run")["val_dice"].agg(["first", "min", "last"]).round(3).to_string())


if __name__ == "__main__":
    main()
