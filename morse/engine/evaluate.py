"""Per-case evaluation of a trained run on the test split: metrics.csv and qualitative.npz."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from morse.common import atomic_path, remove_stale_temporaries
from morse.data.prepared.format import load_case, load_fov, mask_outside_fov, read_dataset_info
from morse.data.sources.fingerprint import dataset_mismatch
from morse.engine.checkpoint import load_checkpoint
from morse.engine.device import select_device
from morse.engine.inference import inference_points_2d, predict_volume_2d
from morse.engine.inference3d import predict_volume_3d
from morse.engine.train import build_model
from morse.evaluation.boundary import boundary_error_profile
from morse.evaluation.metrics import case_metrics, metric_options
from morse.evaluation.refinement import REFINEMENT_COLUMNS, refinement_counts

RUN_COLUMNS = ["dataset", "backbone", "variant", "seed"]
OUTPUTS = ("metrics.csv", "boundary.csv", "refinement.csv", "qualitative.npz")  # in the run folder


def qualitative_slice(label: np.ndarray) -> int:
    """The slice showing the most classes (ties: the most foreground), chosen from labels only,
    so every run of a dataset shows the same slice."""
    scores = [(len(np.unique(s)), int((s > 0).sum())) for s in label]
    return int(max(range(len(scores)), key=lambda i: scores[i]))


def evaluate_run(run_dir: Path, data_root: Path, threads: int = 1, progress: bool = True,
                 settings: dict[str, Any] | None = None, split: str = "test") -> pd.DataFrame:
    """Evaluate ``run_dir/model.pt`` on every case of ``split`` (the test split; "val" is for
    choosing settings without touching it), both outputs for head variants.

    Writes ``run_dir/metrics.csv`` (one row per output x case x class),
    ``run_dir/boundary.csv`` (errors by distance to the true boundary, per output x case),
    ``run_dir/refinement.csv`` (what each subdivision step did at the pixels it overwrote, per
    case x step x class, see :mod:`morse.evaluation.refinement`; header only without a head) and
    ``run_dir/qualitative.npz`` (one test slice with ground truth, predictions and the points the
    uncertainty sampler picks), each atomically, after removing the temporaries of these
    outputs that a killed evaluation left. ``settings`` (``slice_batch``, ``nsd_tolerance_mm``,
    ``boundary_iou_width``: the workflow passes the dataset's current ones) replace the
    ``evaluate`` settings recorded in run.json; a prepared dataset other than the run's is refused.
    """
    run_dir, data_root = Path(run_dir), Path(data_root)
    for name in ("run.json", "model.pt"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(
                f"{run_dir} is not a trained run folder ({name} is missing); give --run-dir "
                "results/<experiment>/<dataset>/<backbone>/<variant>/seed<k> of a finished train step"
            )
    for name in OUTPUTS:
        remove_stale_temporaries(run_dir / name)  # of an earlier, killed evaluation
    torch.set_num_threads(threads)
    run: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    if settings is not None:  # the config's current settings, not those recorded at training
        run["evaluate"] = dict(settings)
    info = read_dataset_info(data_root)
    if split not in ("val", "test"):
        raise ValueError(f"evaluate on the 'val' or the 'test' split, not {split!r}")
    cases = info.splits.get(split, [])
    if not cases:
        raise ValueError(f"dataset {info.name!r} at {data_root} has an empty {split} split; nothing to evaluate")
    mismatch = dataset_mismatch(run.get("data"), info, data_root)
    if mismatch:
        raise ValueError(f"{data_root} is not the prepared dataset {run_dir} was trained on ({mismatch}); "
                         "evaluate with the run's own --data, or delete the run folder to retrain")
    device = select_device(run["device_requested"])
    model = build_model(run, info).to(device)
    model.load_state_dict(load_checkpoint(run_dir / "model.pt", run["config_hash"])["model"])
    model.eval()
    network_size = tuple(run["train"]["patch_size"])
    slice_batch = run.get("evaluate", {}).get("slice_batch", 16)
    amp = run["train"].get("amp", False)

    rows: list[dict[str, Any]] = []
    boundary_rows: list[dict[str, Any]] = []
    refinement_rows: list[dict[str, Any]] = []
    qualitative: dict[str, Any] = {}
    for index, case in enumerate(tqdm(cases, desc=f"evaluate {run_dir.name}", disable=not progress)):
        image, label = load_case(data_root, case)
        image, label = np.array(image), np.array(label)  # in-memory, writable copies of the memory maps
        if run["spatial_dims"] == 3:
            predictions = predict_volume_3d(model, image, network_size, device, overlap=0.5, amp=amp,
                                            overwritten=True)
        else:
            predictions = predict_volume_2d(model, image, network_size, device, slice_batch, amp,
                                            overwritten=True)
        overwritten = predictions.pop("overwritten", None)
        fov = load_fov(data_root, case)
        mask_outside_fov(fov, label, predictions)  # FOV datasets: score inside only
        if overwritten is not None:
            if fov is not None:
                overwritten = overwritten & fov[None]
            run_keys = {**{k: run[k] for k in RUN_COLUMNS}, "case": case}
            for row in refinement_counts(predictions["coarse"], predictions["refined"], overwritten,
                                         label, info.class_names):
                refinement_rows.append({**run_keys, **row})
        for output, prediction in predictions.items():
            keys = {**{k: run[k] for k in RUN_COLUMNS}, "output": output, "case": case}
            for row in case_metrics(prediction, label, info.spacing[case], info.class_names, info.regions, **metric_options(run)):
                rows.append({**keys, **row})
            in_plane = run["spatial_dims"] == 2
            for row in boundary_error_profile(prediction, label, info.spacing[case], in_plane=in_plane):
                boundary_rows.append({**keys, **row})
        if index == 0:
            z = qualitative_slice(label)
            points = np.zeros((0, 2), np.float32)
            if run["spatial_dims"] == 2 and image.shape[-2:] == network_size:
                points = inference_points_2d(model, image[:, z], device, run["head"]["subdivision_points"])
            qualitative = {
                "image": image[0, z].astype(np.float32), "label": label[z].astype(np.uint8),
                "pred_coarse": predictions["coarse"][z],
                "pred_refined": predictions.get("refined", predictions["coarse"])[z],
                "points": points, "case": np.array(case), "slice": np.array(z),
            }
    metrics = pd.DataFrame(rows)
    with atomic_path(run_dir / "metrics.csv") as tmp:
        metrics.to_csv(tmp, index=False)
    with atomic_path(run_dir / "boundary.csv") as tmp:
        pd.DataFrame(boundary_rows).to_csv(tmp, index=False)
    with atomic_path(run_dir / "refinement.csv") as tmp:
        pd.DataFrame(refinement_rows, columns=REFINEMENT_COLUMNS).to_csv(tmp, index=False)
    with atomic_path(run_dir / "qualitative.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **qualitative)
    return metrics
