"""Before/after cost of the head against an earlier commit, measured side by side.

    .venv/bin/python benchmarks/compare_revisions.py --rev 3cc82b1 --rounds 3 -- \\
        --settings unet2d_96 --variants baseline morse morse_pointwise --widths 32

Exports the ``morse`` and ``baselines`` packages of ``--rev`` (``git archive``) and runs this
tree's ``benchmarks/run.py`` (the arguments after ``--``) alternately against that code
("before") and the working tree ("after"), ``--rounds`` times, so that load drifts on a shared
machine hit both alike. The unit is the ratio to the bare backbone measured in the same process;
the table gives, per setting x variant x width, the medians over rounds of the training-step and
inference ratios before and after, ``train_cheaper`` = 1 - after / before, and the achieved
fractions of the matmul peak. Writes ``--out`` (default ``benchmarks/results/revisions.csv``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
KEYS = ["setting", "variant", "expert_width"]
MEASURES = ["train_step_s_ratio", "inference_s_ratio", "train_peak_fraction",
            "inference_peak_fraction", "train_step_s", "matmul_peak_gflops"]


def export(rev: str, dest: Path) -> Path:
    """The ``morse`` and ``baselines`` packages of ``rev``, unpacked under ``dest``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "morse", "baselines"],
        check=True, capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_once(code: Path | None, out: Path, bench_args: list[str]) -> pd.DataFrame:
    """One run.py process, importing ``morse`` from ``code`` (None: the working tree)."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--no-loader", "--no-plot",
         "--no-profile", "--out", str(out), *bench_args],
        check=True, env=env,
    )
    return pd.read_csv(out / "step_costs.csv")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rev", required=True, help="the 'before' commit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/revisions.csv")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then run.py arguments")
    args = parser.parse_args(argv)
    bench_args = [a for a in args.bench_args if a != "--"]
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        before = export(args.rev, Path(tmp) / "before")
        for round_ in range(args.rounds):
            for when, code in (("before", before), ("after", None)):
                table = run_once(code, Path(tmp) / f"{when}{round_}", bench_args)
                frames.append(table.assign(when=when, round=round_))
    raw = pd.concat(frames, ignore_index=True)
    raw["expert_width"] = raw["expert_width"].fillna(0).astype(int)
    median = raw.groupby(KEYS + ["when"], sort=False)[MEASURES].median().unstack("when")
    median.columns = [f"{m}_{w}" for m, w in median.columns]
    median["train_cheaper"] = 1 - median.train_step_s_ratio_after / median.train_step_s_ratio_before
    median["inference_cheaper"] = (
        1 - median.inference_s_ratio_after / median.inference_s_ratio_before
    )
    median = median.reset_index()
    median["rounds"] = args.rounds
    args.out.parent.mkdir(parents=True, exist_ok=True)
    median.to_csv(args.out, index=False)
    raw.to_csv(args.out.with_name(args.out.stem + "_raw.csv"), index=False)
    print(median.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
