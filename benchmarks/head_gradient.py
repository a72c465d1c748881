"""How hard does the point loss pull on the backbone? Gradients of a trained head run.

    .venv/bin/python benchmarks/head_gradient.py --run-dir <head run> --init <pretrain model.pt> \
        --data <prepared dataset> [--batches 8] [--out head_gradient.csv]

For one joint-stage run with a point head (``run.json``, ``snapshots/``), and the weights at the
start of its joint stage (the pretrained backbone with the head freshly initialised as training
initialises it), this measures on ``--batches`` training batches (the run's own sampler, from
sample 0) the gradient each loss term sends into the backbone's parameters: the coarse loss
(0.5 * (CE + soft Dice)) and the point loss (point cross-entropy at weight 1), their norms, the
ratio and the cosine between the two gradient vectors. A ratio near or above 1 with a cosine
near 0 or below means the point loss moves the backbone about as far as its own objective does,
in a direction that objective does not ask for. Numbers, not assertions;
``docs/head_budget.md`` records what was measured.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monai.utils import set_determinism  # noqa: E402

from morse.data.prepared.format import read_dataset_info  # noqa: E402
from morse.engine.checkpoint import load_checkpoint  # noqa: E402
from morse.engine.model import build_model, initialise_backbone  # noqa: E402
from morse.engine.train import training_batches  # noqa: E402
from morse.method import CoarseLoss, Segmenter  # noqa: E402


def _flat_grad(model: Segmenter, loss: torch.Tensor) -> torch.Tensor:
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params, strict=True)])


def gradient_rows(model: Segmenter, batches: list[dict[str, Any]], label: str, iteration: int) -> list[dict[str, Any]]:
    """One row per batch: backbone gradient norms of the coarse and the point loss, their
    ratio and cosine (training mode, as in a step; no update)."""
    model.train()
    loss_fn, rows = CoarseLoss(), []
    for index, batch in enumerate(batches):
        torch.manual_seed(index)  # the same sampled points for every checkpoint
        coarse, aux = model(batch["image"], batch["label"])
        g_coarse = _flat_grad(model, loss_fn(coarse, batch["label"]))
        g_point = _flat_grad(model, aux["point_ce"])
        cosine = torch.nn.functional.cosine_similarity(g_coarse, g_point, dim=0)
        rows.append({"checkpoint": label, "iteration": iteration, "batch": index,
                     "coarse_grad_norm": float(g_coarse.norm()), "point_grad_norm": float(g_point.norm()),
                     "ratio": float(g_point.norm() / g_coarse.norm()), "cosine": float(cosine),
                     "point_loss": float(aux["point_ce"].detach())})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, type=Path, help="a joint-stage run with a point head")
    parser.add_argument("--init", required=True, type=Path, help="the pretraining run's model.pt")
    parser.add_argument("--data", required=True, type=Path, help="the prepared dataset it trained on")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "head_gradient.csv")
    args = parser.parse_args(argv)
    run = json.loads((args.run_dir / "run.json").read_text())
    torch.set_num_threads(1)
    info = read_dataset_info(args.data)
    batches = list(itertools.islice(training_batches(run, args.data, info, 0, torch.device("cpu")), args.batches))
    set_determinism(seed=run["seed"])  # the head's initial weights, as training draws them
    model = build_model(run, info)
    initialise_backbone(model, args.init, run.get("init_config_hash"))
    rows = gradient_rows(model, batches, "start", 0)
    for path in sorted((args.run_dir / "snapshots").glob("iter*.pt")):
        saved = load_checkpoint(path, run["config_hash"])
        model.load_state_dict(saved["model"])
        rows += gradient_rows(model, batches, path.stem, int(saved["iteration"]))
    table = pd.DataFrame(rows)
    table.insert(0, "variant", run["variant"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    summary = table.groupby("iteration")[["ratio", "cosine", "point_loss"]].median()
    print(f"{run['variant']}: median over {args.batches} batches\n{summary.round(3).to_string()}")


if __name__ == "__main__":
    main()
