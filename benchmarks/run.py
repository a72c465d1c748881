"""Cost of every variant: seconds, peak memory and FLOPs per training step and per inference.

    .venv/bin/python benchmarks/run.py            # full grid
    .venv/bin/python benchmarks/run.py --quick    # UNet 96 px, few repeats

For each backbone setting (UNet 2D at 96 and 224 px, UNETR small 3D at 32^3) every variant
(baseline, pointrend, implicit_pointrend, morse, morse_deterministic, morse with
``fusion: pointwise``, morse with ``gate_resolution: coarse``) is built in the same process and
measured side by side on the same random batch, for each expert width (32, 256):

* ``train_step_s``: median seconds of forward + backward + SGD step, after warm-up;
* ``inference_s``: median seconds of ``model.predict`` (coarse + refined logits) per batch;
* ``train_peak_mb`` / ``inference_peak_mb``: on CUDA ``torch.cuda.max_memory_allocated`` over
  the allocation before the timed calls; on CPU the peak resident set size during the timed calls
  minus the RSS before them (sampled from ``/proc/self/statm`` every millisecond: approximate,
  since the allocator can reuse memory kept from warm-up);
* ``train_gflop`` / ``inference_gflop``: ``torch.utils.flop_counter.FlopCounterMode`` (matmul and
  convolution FLOPs; elementwise ops, interpolation and grid_sample are not counted);
* ratios to the baseline of the same backbone setting;
* ``train_gflops`` / ``inference_gflops``: achieved throughput (counted FLOPs / median seconds)
  and ``train_peak_fraction`` / ``inference_peak_fraction``: that over the machine's measured
  float32 matrix-multiply peak (``torch.mm`` of 2048 x 2048 matrices at the same thread count,
  median, measured before and after the variants: ``matmul_peak.csv``);
* ``train_matmul_conv_share``: the share of one profiled training step's self time
  (``torch.profiler``) spent in matrix multiplication and convolution kernels, forward and
  backward; the rest (elementwise ops, interpolation, grid_sample, copies, concatenation,
  normalisation, the optimiser) is what the FLOP counter cannot see. The top ops by self time
  per variant go to ``step_profile.csv``.

A second table measures the data loader: samples per second of ``SliceDataset`` +
``infinite_loader`` on a generated phantom versus what one training step consumes
(batch / train_step_s). Numbers, not assertions: compare them across machines and commits.
Outputs (under ``--out``, default ``benchmarks/results/``): ``step_costs.csv``,
``matmul_peak.csv``, ``step_profile.csv``, ``loader_throughput.csv``, ``step_costs.png`` and
``step_split.png`` (time per training step split into matmul/conv versus everything else).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from baselines import build_backbone
from morse.method import CoarseLoss, Segmenter, resolve_head_config


@dataclass(frozen=True)
class Setting:
    """One backbone configuration with its input size and batch."""

    name: str
    backbone: str
    spatial_dims: int
    size: int
    batch: int
    options: dict[str, Any] = field(default_factory=dict)
    num_points: int | None = None  # None: the faithful default (2048)
    subdivision_points: int | None = None  # None: the faithful default (8192)


# (label, base variant, head overrides); morse variants get the expert width on top.
VARIANT_GRID: list[tuple[str, str, dict[str, Any]]] = [
    ("baseline", "baseline", {}),
    ("pointrend", "pointrend", {}),
    ("implicit_pointrend", "implicit_pointrend", {}),
    ("morse", "morse", {}),
    ("morse_deterministic", "morse_deterministic", {}),
    ("morse_pointwise", "morse", {"fusion": "pointwise"}),
    ("morse_coarse_gate", "morse", {"gate_resolution": "coarse"}),
]


_aten = torch.ops.aten
INPLACE_FLOP_FORMULAS = {
    _aten.baddbmm_: flop_registry[_aten.baddbmm].__wrapped__,  # the raw shape formula
    _aten.addmm_: flop_registry[_aten.addmm].__wrapped__,
}


def settings(quick: bool) -> list[Setting]:
    """The backbone settings of a full or quick run."""
    unet96 = Setting("unet2d_96", "unet", 2, 96, 4)
    if quick:
        return [unet96]
    return [
        unet96,
        Setting("unet2d_224", "unet", 2, 224, 4),
        Setting("unetr_small3d_32", "unetr", 3, 32, 1, {"img_size": 32, "size": "small"}),
    ]


class _RssPeak:
    """Peak resident set size (MB) of this process while the context is open.

    Samples ``/proc/self/statm`` from a background thread every millisecond (Linux; psutil-free);
    elsewhere falls back to the process's lifetime peak ``ru_maxrss``, which only shows new
    high-water marks. Allocations shorter than the sampling interval can be missed, so treat CPU
    numbers as an approximate ordering, not exact allocations.
    """

    def __init__(self) -> None:
        self._statm = Path("/proc/self/statm")
        self._page_mb = resource.getpagesize() / 2**20
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> float:
        if self._statm.exists():
            return int(self._statm.read_text().split()[1]) * self._page_mb
        scale = 1.0 / 1024 if sys.platform != "darwin" else 1.0 / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.001)

    def __enter__(self) -> _RssPeak:
        self.peak = self.current()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak = max(self.peak, self.current())


def _measure(fn: Callable[[], None], repeats: int, warmup: int, device: torch.device) -> dict:
    """Median seconds and peak-memory growth over the memory before the calls (MB)."""
    for _ in range(warmup):
        fn()
    gc.collect()
    samples = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            torch.cuda.synchronize(device)
            samples.append(time.perf_counter() - start)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        with _RssPeak() as rss:
            base = rss.current()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
        peak = rss.peak - base
    return {"seconds": statistics.median(samples), "peak_mb": peak}


# aten ops (CPU self time) and CUDA kernel names (device self time) of matmul/conv work
_ATEN_MATMUL_CONV = re.compile(
    r"(mm|bmm|addmm_?|addbmm_?|baddbmm_?|matmul|linear|einsum|conv\d?d|conv_transpose\d?d"
    r"|_?convolution(_backward)?|_?(mkldnn|cudnn|miopen)_convolution.*|_?slow_conv.*)"
)
_KERNEL_MATMUL_CONV = re.compile(r"gemm|conv|xmma|cutlass|wgrad|dgrad|fprop", re.IGNORECASE)


def is_matmul_or_conv(op: str) -> bool:
    """True for profiler names of matrix-multiplication or convolution work, forward or
    backward: aten ops (``aten::mm``, ``aten::bmm``, ``aten::mkldnn_convolution``,
    ``aten::convolution_backward``, ...) and CUDA kernels (``*gemm*``, ``*conv*``); False for
    elementwise, interpolation, sampling, copies, normalisation and the rest."""
    if op.startswith("aten::"):
        return _ATEN_MATMUL_CONV.fullmatch(op[len("aten::"):]) is not None
    return _KERNEL_MATMUL_CONV.search(op) is not None


def matmul_peak(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Sustained float32 ``torch.mm`` throughput (GFLOP/s, median of ``repeats``) of two
    ``size`` x ``size`` matrices at the current thread count: the machine's practical limit."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g).to(device)
    b = torch.randn(size, size, generator=g).to(device)
    samples = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:  # two warm-up calls
            samples.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(samples) / 1e9


def profile_ops(fn: Callable[[], None], device: torch.device) -> pd.DataFrame:
    """Self time (s) and calls per op of one call of ``fn`` under ``torch.profiler``,
    largest first, with ``matmul_conv`` flagging matrix-multiplication/convolution kernels."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    rows = [
        {"op": e.key, "self_s": getattr(e, attr) / 1e6, "calls": e.count}
        for e in prof.key_averages()
        if getattr(e, attr) > 0 and not e.key.startswith(("autograd::", "Optimizer.", "ProfilerStep"))
    ]
    table = pd.DataFrame(rows, columns=["op", "self_s", "calls"])
    table["matmul_conv"] = table["op"].map(is_matmul_or_conv)
    return table.sort_values("self_s", ascending=False, ignore_index=True)


def write_table(table: pd.DataFrame, out: Path) -> None:
    """Write a results table as CSV (creating its folder) and print it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def _flops(fn: Callable[[], None]) -> float:
    """GFLOP of one call of ``fn`` (matrix products and convolutions). torch's counter has no
    formula for the in-place products (``baddbmm_``, ``addmm_``) the point heads accumulate
    with, so they get their out-of-place twins' formulas: same arithmetic."""
    counter = FlopCounterMode(display=False, custom_mapping=INPLACE_FLOP_FORMULAS)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def build(setting: Setting, base: str, overrides: dict[str, Any], classes: int, device):
    """Segmenter for one setting and variant, seeded so every variant gets the same backbone."""
    torch.manual_seed(0)
    head = dict(overrides)
    if base != "baseline":
        if setting.num_points is not None:
            head.setdefault("num_points", setting.num_points)
        if setting.subdivision_points is not None:
            head.setdefault("subdivision_points", setting.subdivision_points)
    config = resolve_head_config(base, head)
    backbone = build_backbone(setting.backbone, 1, classes, setting.spatial_dims, **setting.options)
    return Segmenter(backbone, classes, config).to(device)


def step_closures(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(training step, inference) of ``model`` on the fixed batch ``x, y``: forward, the coarse
    loss plus the point losses, backward and an SGD step as in training; ``predict``. Shared by
    every benchmark script so that they time the same step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = CoarseLoss()

    def step() -> None:
        model.train()
        with autocast():
            coarse, aux = model(x, y)
        loss = loss_fn(coarse.float(), y) + sum(aux.values(), torch.zeros((), device=x.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer() -> None:
        model.eval()
        with autocast():
            model.predict(x)

    return step, infer


def measure_variant(
    setting: Setting, label: str, base: str, overrides: dict[str, Any], classes: int,
    repeats: int, warmup: int, device: torch.device, path: str = "fast", amp: bool = False,
    compile: bool = False, profile: list[pd.DataFrame] | None = None, channels_last: bool = False,
) -> dict[str, Any]:
    """One row of the table: training and inference cost of one variant.

    ``path="reference"`` switches every ``fast`` attribute of the head off: the straightforward
    code (same maths, see tests/method/test_method_equivalence.py), i.e. the cost before the
    optimisations. ``amp`` (CUDA only) runs forward passes under bf16 autocast with the
    backbone in the channels-last layout (2D). ``channels_last`` runs the backbone in the
    channels-last layout on any device (``train.channels_last``, 2D and 3D). ``compile``
    applies ``torch.compile`` to the model in place (``train.compile``). With ``profile`` (a
    list), one training step is profiled: its op table (:func:`profile_ops`, labelled with the
    row's keys) is appended and the row gets the matmul/conv share of the step's self time.
    """
    model = build(setting, base, overrides, classes, device)
    for module in model.modules():
        if hasattr(module, "fast"):
            module.fast = path == "fast"
    use_amp = amp and device.type == "cuda"
    channels_last = channels_last or (use_amp and setting.spatial_dims == 2)
    if channels_last:
        model.use_channels_last()
    if compile:
        model.compile()
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
        if use_amp else contextlib.nullcontext
    )
    g = torch.Generator().manual_seed(1)
    shape = (setting.batch, 1) + (setting.size,) * setting.spatial_dims
    x = torch.randn(shape, generator=g).to(device)
    y = torch.randint(0, classes, (setting.batch,) + shape[2:], generator=g).to(device)
    step, infer = step_closures(model, x, y, autocast)
    train = _measure(step, repeats, warmup, device)
    inference = _measure(infer, repeats, 1, device)
    row = {
        "setting": setting.name, "backbone": setting.backbone, "dims": setting.spatial_dims,
        "size": setting.size, "batch": setting.batch, "variant": label, "path": path,
        "amp": use_amp, "compile": compile, "channels_last": channels_last,
        "expert_width": overrides.get("expert_width") if base != "baseline" else None,
        "device": device.type, "threads": torch.get_num_threads(),
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "train_step_s": train["seconds"], "inference_s": inference["seconds"],
        "train_peak_mb": train["peak_mb"], "inference_peak_mb": inference["peak_mb"],
        "train_gflop": _flops(step), "inference_gflop": _flops(infer),
    }
    row["train_gflops"] = row["train_gflop"] / row["train_step_s"]
    row["inference_gflops"] = row["inference_gflop"] / row["inference_s"]
    if profile is not None:
        ops = profile_ops(step, device)
        row["train_matmul_conv_share"] = ops.loc[ops.matmul_conv, "self_s"].sum() / ops.self_s.sum()
        keys = ("setting", "variant", "expert_width", "path", "compile", "channels_last")
        profile.append(ops.assign(**{key: row[key] for key in keys}))
    return row


def step_costs(
    args: argparse.Namespace, device: torch.device
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The variant x width x setting table (ratios to each setting's baseline, achieved GFLOP/s
    and fraction of the matmul peak), the peak measurements and the top ops of each variant."""
    rows, profiles = [], []
    peaks = [{"when": "before", "gflops": matmul_peak(device)}]
    print(f"float32 torch.mm peak ({torch.get_num_threads()} threads): "
          f"{peaks[0]['gflops']:.0f} GFLOP/s", flush=True)
    variants = [v for v in VARIANT_GRID if args.variants is None or v[0] in args.variants]
    chosen = [s for s in settings(args.quick) if args.settings is None or s.name in args.settings]
    for setting in chosen:
        for label, base, extra in variants:
            widths = [None] if base == "baseline" else args.widths
            paths = ["fast"] if base == "baseline" else args.paths
            for width, path in itertools.product(widths, paths):
                overrides = dict(extra) if base != "baseline" else {}
                if width is not None:
                    overrides["expert_width"] = width
                try:
                    row = measure_variant(
                        setting, label, base, overrides, args.classes, args.repeats, args.warmup,
                        device, path, args.amp, args.compile,
                        profile=None if args.no_profile else profiles,
                        channels_last=args.channels_last,
                    )
                except Exception as error:  # e.g. out of memory or a backbone constraint: go on
                    print(f"[skip] {setting.name} {label} width={width}: {error}", flush=True)
                    continue
                rows.append(row)
                gc.collect()
                print(
                    f"{row['setting']:>18} {row['variant']:>20} w={str(row['expert_width']):>4} "
                    f"{row['path']:>9} "
                    f"train {row['train_step_s']:.3f}s infer {row['inference_s']:.3f}s "
                    f"train {row['train_gflop']:.1f} GFLOP ({row['train_gflops']:.0f} GFLOP/s) "
                    f"peak {row['train_peak_mb']:.0f} MB",
                    flush=True,
                )
    if not rows:
        raise SystemExit("run.py: every variant failed (see the [skip] lines above); "
                         "nothing measured, nothing written")
    peaks.append({"when": "after", "gflops": matmul_peak(device)})
    peak = statistics.median(p["gflops"] for p in peaks)
    table = pd.DataFrame(rows)
    for metric in ("train_step_s", "inference_s", "train_gflop", "inference_gflop"):
        base = table[table.variant == "baseline"].set_index("setting")[metric]
        table[f"{metric}_ratio"] = table[metric] / table["setting"].map(base)
    table["matmul_peak_gflops"] = peak
    table["train_peak_fraction"] = table["train_gflops"] / peak
    table["inference_peak_fraction"] = table["inference_gflops"] / peak
    peak_table = pd.DataFrame(peaks).assign(
        device=device.type, threads=torch.get_num_threads(), size=2048, dtype="float32"
    )
    top = (
        pd.concat(profiles, ignore_index=True).groupby(
            ["setting", "variant", "expert_width", "path", "compile"], dropna=False, sort=False
        ).head(args.profile_top)
        if profiles else pd.DataFrame()
    )
    return table, peak_table, top


def loader_throughput(args: argparse.Namespace, table: pd.DataFrame) -> pd.DataFrame:
    """Samples/s of SliceDataset + infinite_loader on a phantom vs the training step's demand."""
    from morse.data.loading.sampling import infinite_loader
    from morse.data.loading.slices2d import SliceDataset
    from morse.data.phantoms.abdomen2d import generate_phantom2d
    from morse.data.prepared.from_nifti import prepare_nifti_dataset

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw, prepared = Path(tmp) / "raw", Path(tmp) / "prepared"
        generate_phantom2d(raw, n_cases=4, n_slices=8, size=128, seed=0)
        info = prepare_nifti_dataset(raw, prepared, name="Phantom2D", spatial_dims=2)
        train_cases = info.splits["train"]
        for size in sorted({s.size for s in settings(args.quick) if s.spatial_dims == 2}):
            for workers in args.loader_workers:
                dataset = SliceDataset(
                    prepared, train_cases, (size, size), augment="rot90_flip", seed=0,
                    num_classes=info.num_classes,
                )
                batch = 4
                loader = infinite_loader(dataset, batch, seed=0, num_workers=workers)
                for _ in range(2):  # warm-up (worker start, first case loads)
                    next(loader)
                n_batches = 10 if args.quick else 30
                start = time.perf_counter()
                for _ in range(n_batches):
                    next(loader)
                seconds = time.perf_counter() - start
                del loader
                rate = n_batches * batch / seconds
                consumers = table[
                    (table.dims == 2) & (table["size"] == size) & (table.path == "fast")
                ]
                for _, row in consumers.iterrows():
                    demand = row["batch"] / row["train_step_s"]
                    rows.append({
                        "size": size, "batch": batch, "num_workers": workers,
                        "loader_samples_per_s": rate, "setting": row["setting"],
                        "variant": row["variant"],
                        "expert_width": row["expert_width"],
                        "step_samples_per_s": demand, "loader_headroom": rate / demand,
                    })
                print(f"loader {size}px workers={workers}: {rate:.1f} samples/s", flush=True)
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, path: Path) -> None:
    """Ratio to baseline per variant (log scale), training and inference, one panel per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = table[(table.variant != "baseline") & (table.path == "fast")].copy()
    data["width"] = data["expert_width"].map(lambda w: f"width {int(w)}")
    long = data.melt(
        id_vars=["setting", "variant", "width"],
        value_vars=["train_step_s_ratio", "inference_s_ratio"],
        var_name="measure", value_name="ratio to baseline",
    )
    long["measure"] = long["measure"].map(
        {"train_step_s_ratio": "training step", "inference_s_ratio": "inference"}
    )
    grid = sns.catplot(
        data=long, x="ratio to baseline", y="variant", hue="width", col="setting", row="measure",
        kind="bar", height=3.2, aspect=1.4, sharex=False,
    )
    for ax in grid.axes.flat:
        ax.set_xscale("log")
        ax.axvline(1.0, color="k", lw=0.8, ls="--")
    grid.figure.suptitle("Cost per step relative to the bare backbone (same process, median)", y=1.02)
    grid.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(grid.figure)


SUMMARY_COLUMNS = [
    "setting", "variant", "expert_width", "path", "train_step_s", "train_step_s_ratio",
    "train_gflops", "train_peak_fraction", "inference_gflops", "inference_peak_fraction",
    "train_matmul_conv_share",
]


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """The printed table: cost, achieved GFLOP/s, fraction of the matmul peak, profile split."""
    return table[[c for c in SUMMARY_COLUMNS if c in table]]


def plot_split(table: pd.DataFrame, path: Path) -> None:
    """Seconds per training step split into matmul/conv and everything else (profile shares),
    one horizontal stacked bar per variant and width, one panel per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = table[table.path == "fast"].copy()
    data["label"] = [
        v if pd.isna(w) else f"{v} (w {int(w)})"
        for v, w in zip(data.variant, data.expert_width, strict=True)
    ]
    data["matmul/conv"] = data.train_step_s * data.train_matmul_conv_share
    data["everything else"] = data.train_step_s - data["matmul/conv"]
    groups = list(data.groupby("setting", sort=False))
    fig, axes = plt.subplots(
        1, len(groups), figsize=(5.2 * len(groups), 0.35 * data.label.nunique() + 1.4),
        squeeze=False,
    )
    for ax, (setting, part) in zip(axes[0], groups, strict=True):
        part[["label", "matmul/conv", "everything else"]].set_index("label").plot.barh(
            stacked=True, ax=ax, color=["#4c72b0", "#dd8452"], legend=ax is axes[0][0],
        )
        ax.set_xlabel("seconds per training step")
        ax.set_ylabel("")
        ax.set_title(setting)
        ax.invert_yaxis()
    fig.suptitle("Training step: matmul/convolution kernels vs everything else (torch.profiler)")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="UNet 96 px only, few repeats")
    parser.add_argument("--widths", type=int, nargs="+", default=None, help="default 32 256")
    parser.add_argument("--variants", nargs="+", default=None,
                        help=f"subset of {[v[0] for v in VARIANT_GRID]}")
    parser.add_argument("--settings", nargs="+", default=None,
                        help="subset of unet2d_96 unet2d_224 unetr_small3d_32 (default: all)")
    parser.add_argument("--classes", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (quick: 2)")
    parser.add_argument("--warmup", type=int, default=None, help="default 2 (quick: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--paths", nargs="+", default=["fast"], choices=["fast", "reference"],
                        help="head code paths: fast (default) and/or reference (the plain code)")
    parser.add_argument("--amp", action="store_true",
                        help="CUDA only: bf16 autocast + channels_last (ignored on CPU)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile every model in place (as train.compile: true)")
    parser.add_argument("--channels-last", action="store_true",
                        help="run every backbone in the channels-last layout (as train.channels_last: "
                             "true)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the torch.profiler step (no step_profile.csv, no split)")
    parser.add_argument("--profile-top", type=int, default=15,
                        help="ops per variant kept in step_profile.csv (by self time)")
    parser.add_argument("--loader-workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--no-loader", action="store_true")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    if args.widths is None:
        args.widths = [32] if args.quick else [32, 256]
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    table, peaks, top = step_costs(args, device)
    table.to_csv(args.out / "step_costs.csv", index=False)
    peaks.to_csv(args.out / "matmul_peak.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(summary(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if len(top):
        top.to_csv(args.out / "step_profile.csv", index=False)
    if not args.no_loader:
        loader = loader_throughput(args, table)
        loader.to_csv(args.out / "loader_throughput.csv", index=False)
    if not args.no_plot and len(table):
        plot(table, args.out / "step_costs.png")
        if "train_matmul_conv_share" in table:
            plot_split(table, args.out / "step_split.png")
    print(f"wrote {args.out}/ step_costs.csv, matmul_peak.csv, step_profile.csv, "
          "loader_throughput.csv, step_costs.png, step_split.png")


if __name__ == "__main__":
    main()
