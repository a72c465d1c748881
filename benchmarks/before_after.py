"""Paired before/after timing of the head's fast paths (same model, same batch, interleaved).

    .venv/bin/python benchmarks/before_after.py --size 96 --batch 4 --widths 32 256

For each variant and expert width one model is built; its training step (forward + backward +
SGD step) and ``predict`` are timed alternately with the fast paths on ("after") and off
("before": the straightforward code, ``fast = False``), so that machine load drifts hit both
alike. Writes ``benchmarks/results/before_after.csv`` (median seconds, FLOPs, speed-ups).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import VARIANT_GRID, Setting, _flops, build, step_closures, write_table  # noqa: E402


def _set_fast(model: torch.nn.Module, fast: bool) -> None:
    for module in model.modules():
        if hasattr(module, "fast"):
            module.fast = fast


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--variants", nargs="+", default=["pointrend", "morse", "morse_coarse_gate"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/before_after.csv"))
    args = parser.parse_args(argv)
    grid = {label: (base, extra) for label, base, extra in VARIANT_GRID}
    setting = Setting(f"unet2d_{args.size}", "unet", 2, args.size, args.batch)
    rows = []
    for label in args.variants:
        base, extra = grid[label]
        for width in args.widths:
            model = build(setting, base, {**extra, "expert_width": width}, args.classes, "cpu")
            g = torch.Generator().manual_seed(1)
            x = torch.randn(args.batch, 1, args.size, args.size, generator=g)
            y = torch.randint(0, args.classes, (args.batch, args.size, args.size), generator=g)
            step, infer = step_closures(model, x, y)

            times: dict[tuple[str, str], list[float]] = {}
            for fast in (True, False):  # warm-up both paths
                _set_fast(model, fast)
                step()
                infer()
            for _ in range(args.repeats):
                for fast in (True, False):
                    _set_fast(model, fast)
                    for name, fn in (("train_step_s", step), ("inference_s", infer)):
                        start = time.perf_counter()
                        fn()
                        times.setdefault((name, "after" if fast else "before"), []).append(
                            time.perf_counter() - start
                        )
            row = {"variant": label, "expert_width": width, "size": args.size,
                   "batch": args.batch, "threads": torch.get_num_threads()}
            for (name, when), samples in times.items():
                row[f"{name}_{when}"] = statistics.median(samples)
            for fast in (True, False):
                _set_fast(model, fast)
                when = "after" if fast else "before"
                row[f"train_gflop_{when}"] = _flops(step)
            row["train_speedup"] = row["train_step_s_before"] / row["train_step_s_after"]
            row["inference_speedup"] = row["inference_s_before"] / row["inference_s_after"]
            rows.append(row)
            print(row, flush=True)
    write_table(pd.DataFrame(rows), args.out)


if __name__ == "__main__":
    main()
