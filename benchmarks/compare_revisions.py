"""Before/after cost of the head against an earlier commit, interleaved in one process.

    .venv/bin/python benchmarks/compare_revisions.py --rev 3cc82b1 --size 96 --widths 32 \\
        --variants morse morse_pointwise --repeats 5

Exports the ``morse`` package of ``--rev`` (``git archive``), imports it beside the working
tree's (the old package under a fresh ``sys.modules`` entry, so each model keeps its own code),
builds for every variant and width the same model with both (same seed, same weights, same
batch) and times their training steps (forward + backward + SGD) and ``predict`` calls
alternately with the bare backbone's, step by step, so that load drifts on a shared machine hit
all three alike. Per variant: median seconds before, after and of the baseline, the ratios to the
baseline, ``train_cheaper`` = 1 - median(after / before) over the paired repeats, and the
counted FLOPs. ``--channels-last`` runs the 'after' model's backbone in the channels-last layout
(``train.channels_last``). Writes ``--out`` (default ``benchmarks/results/revisions.csv``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import VARIANT_GRID, Setting, _flops, settings, step_closures, write_table  # noqa: E402

import morse.method as current  # noqa: E402
from baselines import build_backbone  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def import_revision(rev: str, dest: Path) -> SimpleNamespace:
    """``Segmenter`` and ``resolve_head_config`` of ``morse.method`` as it was at ``rev``,
    imported from a ``git archive`` under ``dest``.

    Every submodule of the old package is imported while it is the one in ``sys.modules`` and
    the two names are resolved then: ``morse.method`` loads ``Segmenter`` lazily (a module
    ``__getattr__``), so reading it after the current package is restored would silently give
    the current code (as it did for revisions after e9313c3, until this was fixed)."""
    result = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "morse"], capture_output=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"compare_revisions: cannot export morse/ at {rev!r}: "
                         f"{result.stderr.decode().strip()} (give a commit of this repository)")
    archive = result.stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    saved = {k: m for k, m in sys.modules.items() if k == "morse" or k.startswith("morse.")}
    for key in saved:
        del sys.modules[key]
    sys.path.insert(0, str(dest))
    try:
        import morse.method as package

        for info in pkgutil.walk_packages(package.__path__, "morse.method."):
            importlib.import_module(info.name)
        old = SimpleNamespace(Segmenter=package.Segmenter,
                              resolve_head_config=package.resolve_head_config)
    finally:
        sys.path.remove(str(dest))
        for key in [k for k in sys.modules if k == "morse" or k.startswith("morse.")]:
            del sys.modules[key]
        sys.modules.update(saved)
    return old


def build(
    method: ModuleType | SimpleNamespace, setting: Setting, base: str, overrides: dict, classes: int
):
    """The Segmenter of ``method`` (``morse.method`` or :func:`import_revision`'s namespace),
    seeded like benchmarks/run.py."""
    torch.manual_seed(0)
    backbone = build_backbone(setting.backbone, 1, classes, setting.spatial_dims, **setting.options)
    return method.Segmenter(backbone, classes, method.resolve_head_config(base, overrides))


def after_model(setting: Setting, base: str, overrides: dict, args: argparse.Namespace):
    """The working tree's model, with its backbone in the channels-last layout when asked."""
    model = build(current, setting, base, overrides, args.classes)
    return model.use_channels_last() if args.channels_last else model


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rev", required=True, help="the 'before' commit")
    parser.add_argument("--size", type=int, default=96, help="UNet 2D input size")
    parser.add_argument("--batch", type=int, default=4, help="UNet 2D batch")
    parser.add_argument("--setting", choices=[s.name for s in settings(quick=False)],
                        help="one of benchmarks/run.py's settings instead (e.g. unetr_small3d_32)")
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--widths", type=int, nargs="+", default=[32])
    parser.add_argument("--variants", nargs="+", default=["morse", "morse_pointwise"],
                        help="of benchmarks/run.py's grid; 'baseline' times the bare backbone itself "
                             "before and after (with --channels-last: the layouts side by side)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--channels-last", action="store_true",
                        help="run the 'after' model's backbone in the channels-last layout "
                             "(train.channels_last); 'before' and the baseline keep the standard one")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/revisions.csv")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    grid = {label: (base, extra) for label, base, extra in VARIANT_GRID}
    setting = (
        next(s for s in settings(quick=False) if s.name == args.setting) if args.setting
        else Setting(f"unet2d_{args.size}", "unet", 2, args.size, args.batch)
    )
    g = torch.Generator().manual_seed(1)
    spatial = (setting.size,) * setting.spatial_dims
    x = torch.randn(setting.batch, 1, *spatial, generator=g)
    y = torch.randint(0, args.classes, (setting.batch, *spatial), generator=g)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = import_revision(args.rev, Path(tmp))
        baseline = step_closures(build(current, setting, "baseline", {}, args.classes), x, y)
        for label in args.variants:
            base, extra = grid[label]
            for width in [None] if base == "baseline" else args.widths:
                overrides = {} if width is None else {**extra, "expert_width": width}
                fns = {
                    "baseline": baseline,
                    "before": step_closures(build(old, setting, base, overrides, args.classes), x, y),
                    "after": step_closures(after_model(setting, base, overrides, args), x, y),
                }
                for step, infer in fns.values():  # warm-up
                    step()
                    infer()
                times: dict[tuple[str, int], list[float]] = {}
                for _ in range(args.repeats):
                    for which, pair in fns.items():
                        for kind in (0, 1):
                            times.setdefault((which, kind), []).append(_timed(pair[kind]))
                row = {"setting": setting.name, "variant": label, "expert_width": width,
                       "rev": args.rev, "channels_last": args.channels_last,
                       "threads": torch.get_num_threads(),
                       "repeats": args.repeats}
                for kind, name in ((0, "train_step_s"), (1, "inference_s")):
                    for which in fns:
                        row[f"{name}_{which}"] = statistics.median(times[(which, kind)])
                    for which in ("before", "after"):
                        row[f"{name}_ratio_{which}"] = statistics.median(
                            a / b for a, b in zip(times[(which, kind)], times[("baseline", kind)],
                                                  strict=True)
                        )
                    row[f"{name.split('_')[0]}_cheaper"] = 1 - statistics.median(
                        a / b for a, b in zip(times[("after", kind)], times[("before", kind)],
                                              strict=True)
                    )
                row["train_gflop_before"] = _flops(fns["before"][0])
                row["train_gflop_after"] = _flops(fns["after"][0])
                rows.append(row)
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()},
                      flush=True)
    write_table(pd.DataFrame(rows), args.out)


if __name__ == "__main__":
    main()
