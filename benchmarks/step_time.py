"""Training-step and inference cost of every variant, measured side by side in one process.

    python benchmarks/step_time.py --size 96 --batch 4 --threads 1 --out benchmarks/step_time.csv

Reports the median seconds per training step (forward + backward + SGD step) after warm-up, the
ratio to the bare backbone, and the slice-batch inference time. Numbers, not assertions: compare
them across machines and commits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from baselines import build_backbone
from morse.method import VARIANTS, CoarseLoss, Segmenter, resolve_head_config


def _time(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(variant: str, overrides: dict, size: int, batch: int, classes: int, repeats: int) -> dict:
    """Median training-step and inference seconds of one variant on random data."""
    torch.manual_seed(0)
    head = resolve_head_config(variant, overrides if variant != "baseline" else {})
    model = Segmenter(build_backbone("unet", 1, classes, 2), classes, head)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = CoarseLoss()
    x = torch.randn(batch, 1, size, size)
    y = torch.randint(0, classes, (batch, size, size))

    def step() -> None:
        model.train()
        coarse, aux = model(x, y)
        loss = loss_fn(coarse, y) + sum(aux.values(), torch.zeros(()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            model.predict(x)

    return {
        "variant": variant, **{k: overrides.get(k) for k in ("expert_width", "fusion")},
        "size": size, "batch": batch, "threads": torch.get_num_threads(),
        "train_step_s": _time(step, repeats, 2), "inference_s": _time(infer, repeats, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", type=int, nargs="+", default=[32])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--head", type=json.loads, default={},
                        help='extra head overrides as JSON, e.g. \'{"num_points": 288}\'')
    parser.add_argument("--out", type=Path, default=Path("benchmarks/step_time.csv"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for variant in args.variants:
        for width in args.widths if variant != "baseline" else [None]:
            overrides = {"expert_width": width, **args.head} if width else {}
            rows.append(measure(variant, overrides, args.size, args.batch, args.classes, args.repeats))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    base = table.loc[table.variant == "baseline", "train_step_s"]
    if len(base):
        table["ratio_to_baseline"] = table["train_step_s"] / base.iloc[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
