"""Per-case evaluation of a trained run on the test split: metrics.csv and qualitative.npz.

The pieces (:func:`open_run`, :func:`load_model`, :func:`predict_case`, :func:`metric_rows`) are
shared with the snapshot evaluation (:mod:`morse.engine.budget`) and, for the prediction, with
the validation during training (:mod:`morse.engine.validation`), so all three score exactly
alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from morse.common import atomic_path, remove_stale_temporaries
from morse.data.prepared.format import (
    DatasetInfo,
    load_case,
    load_fov,
    mask_outside_fov,
    read_dataset_info,
)
from morse.data.sources.fingerprint import dataset_mismatch
from morse.engine.checkpoint import load_checkpoint
from morse.engine.device import select_device
from morse.engine.inference import inference_points_2d, predict_volume_2d
from morse.engine.inference3d import predict_volume_3d
from morse.engine.model import build_model
from morse.evaluation.boundary import boundary_error_profile
from morse.evaluation.metrics import METRIC_COLUMNS, SETTING_COLUMNS, case_metrics, metric_options
from morse.evaluation.refinement import REFINEMENT_COLUMNS, refinement_counts
from morse.method import Segmenter

RUN_COLUMNS = ["dataset", "backbone", "variant", "seed"]
#: The columns of a run's metrics.csv, in order.
METRICS_CSV_COLUMNS = [*RUN_COLUMNS, "output", "case", "class", "class_index", *METRIC_COLUMNS,
                       *SETTING_COLUMNS, "empty_reference", "empty_prediction"]
SLIDING_WINDOW_OVERLAP = 0.5
OUTPUTS = ("metrics.csv", "boundary.csv", "refinement.csv", "qualitative.npz")  # in the run folder


def qualitative_slice(label: np.ndarray) -> int:
    """The slice showing the most classes (ties: the most foreground), chosen from labels only,
    so every run of a dataset shows the same slice."""
    scores = [(len(np.unique(s)), int((s > 0).sum())) for s in label]
    return int(max(range(len(scores)), key=lambda i: scores[i]))


def open_run(run_dir: Path, data_root: Path, split: str = "test", settings: dict[str, Any] | None = None,
             ) -> tuple[dict[str, Any], DatasetInfo, list[str]]:
    """``run_dir/run.json`` (its ``evaluate`` settings replaced by ``settings``, the config's
    current ones, when given), the prepared dataset's info and the cases of ``split``; an empty
    split, another split name or a prepared dataset other than the run's is refused."""
    run: dict[str, Any] = json.loads((Path(run_dir) / "run.json").read_text())
    if settings is not None:
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
    return run, info, cases


def load_model(run: dict[str, Any], info: DatasetInfo, weights: Path) -> tuple[Segmenter, torch.device]:
    """The run's network with the weights of ``weights`` (model.pt or a snapshot, checked against
    the run's config hash), in eval mode on the run's device."""
    device = select_device(run["device_requested"])
    model = build_model(run, info).to(device)
    model.load_state_dict(load_checkpoint(weights, run["config_hash"])["model"])
    model.eval()
    return model, device


#: Inputs per forward pass of the whole-volume inference, by default: slices (2D), windows (3D).
DEFAULT_BATCH = {"slice_batch": 16, "window_batch": 4}


def inference_batch(run: dict[str, Any], settings: dict[str, Any] | None = None) -> int:
    """Inputs per forward pass of the run's inference, ``settings`` over the run's ``evaluate``:
    ``slice_batch`` slices in 2D, ``window_batch`` sliding windows in 3D."""
    key = "window_batch" if run["spatial_dims"] == 3 else "slice_batch"
    return int({**run.get("evaluate", {}), **(settings or {})}.get(key, DEFAULT_BATCH[key]))


def scored_case(data_root: Path, case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Image, label (in-memory, writable copies of the memory maps) and field of view of a case."""
    image, label = load_case(data_root, case)
    return np.array(image), np.array(label), load_fov(data_root, case)


def predict_case(
    model: Segmenter, run: dict[str, Any], image: np.ndarray, device: torch.device, batch: int,
    overwritten: bool = False, refine: bool = True,
) -> dict[str, np.ndarray]:
    """Whole-volume labels of one case: slice-wise in 2D, sliding windows in 3D (the run's patch
    size, overlap :data:`SLIDING_WINDOW_OVERLAP`), ``batch`` slices or windows per forward pass
    (:func:`inference_batch`); see the two inference functions."""
    network_size = tuple(run["train"]["patch_size"])
    amp = run["train"].get("amp", False)
    if run["spatial_dims"] == 3:
        return predict_volume_3d(model, image, network_size, device, overlap=SLIDING_WINDOW_OVERLAP,
                                 sw_batch_size=batch, amp=amp, overwritten=overwritten, refine=refine)
    return predict_volume_2d(model, image, network_size, device, batch, amp, overwritten=overwritten,
                             refine=refine)


def metric_rows(run: dict[str, Any], info: DatasetInfo, case: str, output: str,
                prediction: np.ndarray, label: np.ndarray) -> list[dict[str, Any]]:
    """metrics.csv's rows of one case and output (one per foreground class and region)."""
    keys = {**{k: run[k] for k in RUN_COLUMNS}, "output": output, "case": case}
    rows = case_metrics(prediction, label, info.spacing[case], info.class_names, info.regions,
                        **metric_options(run))
    return [{**keys, **row} for row in rows]


def metrics_frame(rows: list[dict[str, Any]], columns: list[str] = METRICS_CSV_COLUMNS) -> pd.DataFrame:
    """A table of metric rows (metrics.csv's by default), with its ``columns`` even without rows."""
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


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
    torch.set_num_threads(threads)
    for name in ("run.json", "model.pt"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(
                f"{run_dir} is not a trained run folder ({name} is missing); give --run-dir "
                "results/<experiment>/<dataset>/<backbone>/<variant>/seed<k> of a finished train step"
            )
    for name in OUTPUTS:
        remove_stale_temporaries(run_dir / name)  # of an earlier, killed evaluation
    run, info, cases = open_run(run_dir, data_root, split, settings)
    model, device = load_model(run, info, run_dir / "model.pt")
    batch = inference_batch(run, settings)

    rows: list[dict[str, Any]] = []
    boundary_rows: list[dict[str, Any]] = []
    refinement_rows: list[dict[str, Any]] = []
    qualitative: dict[str, Any] = {}
    for index, case in enumerate(tqdm(cases, desc=f"evaluate {run_dir.name}", disable=not progress)):
        image, label, fov = scored_case(data_root, case)
        predictions = predict_case(model, run, image, device, batch, overwritten=True)
        overwritten = predictions.pop("overwritten", None)
        mask_outside_fov(fov, label, predictions)  # FOV datasets: score inside only
        if overwritten is not None:
            if fov is not None:
                overwritten = overwritten & fov[None]
            run_keys = {**{k: run[k] for k in RUN_COLUMNS}, "case": case}
            for row in refinement_counts(predictions["coarse"], predictions["refined"], overwritten,
                                         label, info.class_names):
                refinement_rows.append({**run_keys, **row})
        for output, prediction in predictions.items():
            rows.extend(metric_rows(run, info, case, output, prediction, label))
            keys = {**{k: run[k] for k in RUN_COLUMNS}, "output": output, "case": case}
            in_plane = run["spatial_dims"] == 2
            for row in boundary_error_profile(prediction, label, info.spacing[case], in_plane=in_plane):
                boundary_rows.append({**keys, **row})
        if index == 0:
            qualitative = _qualitative(model, run, image, label, predictions, case, device,
                                       colour=list(info.modalities) == ["R", "G", "B"])  # fmt: skip
    metrics = metrics_frame(rows)
    with atomic_path(run_dir / "metrics.csv") as tmp:
        metrics.to_csv(tmp, index=False)
    with atomic_path(run_dir / "boundary.csv") as tmp:
        pd.DataFrame(boundary_rows).to_csv(tmp, index=False)
    with atomic_path(run_dir / "refinement.csv") as tmp:
        pd.DataFrame(refinement_rows, columns=REFINEMENT_COLUMNS).to_csv(tmp, index=False)
    with atomic_path(run_dir / "qualitative.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **qualitative)
    return metrics


def _qualitative(model: Segmenter, run: dict[str, Any], image: np.ndarray, label: np.ndarray,
                 predictions: dict[str, np.ndarray], case: str, device: torch.device,
                 colour: bool = False) -> dict[str, Any]:  # fmt: skip
    """qualitative.npz's content: one slice with ground truth, predictions and sampled points;
    ``colour`` (an RGB dataset) adds the slice's three channels as ``image_rgb`` (H, W, 3)."""
    z = qualitative_slice(label)
    network_size = tuple(run["train"]["patch_size"])
    points = np.zeros((0, 2), np.float32)
    if run["spatial_dims"] == 2 and image.shape[-2:] == network_size:
        points = inference_points_2d(model, image[:, z], device, run["head"]["subdivision_points"])
    extra = {"image_rgb": np.moveaxis(image[:3, z], 0, -1).astype(np.float32)} if colour else {}
    return {
        **extra, "image": image[0, z].astype(np.float32), "label": label[z].astype(np.uint8),
        "pred_coarse": predictions["coarse"][z],
        "pred_refined": predictions.get("refined", predictions["coarse"])[z],
        "points": points, "case": np.array(case), "slice": np.array(z),
    }
