"""One tiny end-to-end workflow on a user's own data: an images2d folder (with a field of view)
and an nnU-Net v2 raw dataset (region labels), side by side in one experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from own_layouts import IMAGES2D_ENTRY, vessel_case, write_images2d, write_nnunet
from workflow_runner import make_workdir, run_snakemake


def own_data_config(data: Path) -> dict:
    eyes = write_images2d(data / "eyes", n=4, size=32)
    blobs = write_nnunet(data / "nnUNet_raw", n=4, shape=(16, 16, 16))
    return {
        "experiment": "own", "device": "cpu", "protocol": "single_stage",
        "datasets": {
            "eyes": {**IMAGES2D_ENTRY, "path": str(eyes), "split": {"test": ["eye01", "eye02"],
                                                                    "train": ["eye00", "eye03"]},
                     "train": {"patch_size": [32, 32]}},
            "blobs": {"kind": "nnunet", "source": "local", "path": str(blobs),
                      "split": {"test_fraction": 0.25, "seed": 0},
                      "variants": ["baseline", "morse"], "train": {"patch_size": [16, 16, 16]}},
        },
        "backbones": {"unet": {}},
        "method": {"expert_width": 8, "num_points": 32, "subdivision_points": 128},
        "variants": {"baseline": {}, "morse": {}},
        "seeds": [0],
        "train": {"iterations": 2, "batch_size": 2,
                  "patch_size": [32, 32], "checkpoint_every": 2, "log_every": 1},
    }


@pytest.mark.slow
def test_images2d_and_nnunet_run_end_to_end(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path / "work")
    config = workdir / "config" / "own.yaml"
    config.write_text(yaml.safe_dump(own_data_config(tmp_path / "user_data")))
    result = run_snakemake(workdir, "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = pd.read_csv(workdir / "results" / "own" / "metrics.csv")
    eyes = metrics[metrics.dataset == "eyes"]
    assert set(eyes["case"]) == {"eye01", "eye02"} and set(eyes["class"]) == {"vessel"}
    assert len(eyes) == 2 * 3  # 2 test cases x (baseline coarse, morse coarse, morse refined)
    blobs = metrics[metrics.dataset == "blobs"]
    regions = blobs[blobs.class_index == -1]
    assert set(regions["class"]) == {"whole", "core", "enhancing"}
    assert set(blobs.loc[blobs.class_index > 0, "class"]) == {"label_1", "label_2", "enhancing"}
    assert metrics["dice"].between(0, 1).all()
    # the field of view: prediction and label are background outside it before scoring
    shown = np.load(workdir / "results/own/eyes/unet/morse/seed0/qualitative.npz")
    fov = vessel_case(int(str(shown["case"])[-2:]))[2] > 0
    assert not shown["pred_coarse"][~fov].any() and not shown["label"][~fov].any()
    assert (workdir / "reports" / "own" / "index.html").is_file()
