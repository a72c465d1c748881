"""The network of a run: the Segmenter a resolved run config describes, and the pretrained
backbone of the two-stage protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from baselines import build_backbone
from morse.data.prepared.format import DatasetInfo
from morse.engine.checkpoint import load_checkpoint
from morse.method import HeadConfig, Segmenter


def build_model(run: dict[str, Any], info: DatasetInfo) -> Segmenter:
    """The Segmenter (backbone + head) a resolved run config describes; its ``head_config`` is
    the run's :class:`HeadConfig`, built here once from the run config's JSON form."""
    backbone = build_backbone(
        run["backbone"],
        in_channels=len(info.modalities),
        num_classes=len(info.class_names),
        spatial_dims=run["spatial_dims"],
        **run["backbone_options"],
    )
    model = Segmenter(backbone, len(info.class_names), HeadConfig(**run["head"]))
    if run.get("train", {}).get("channels_last", False):
        model.use_channels_last()
    if run.get("train", {}).get("compile", False):
        model.compile()  # in place: state_dict keys and checkpoints unchanged
    return model


def initialise_backbone(model: Segmenter, path: Path, expected_hash: str | None) -> int:
    """Load the backbone weights of a pretraining run's ``model.pt`` into ``model.backbone``.

    Only ``backbone.*`` tensors are taken (the authors' ``--resume`` does the same); every
    backbone tensor must be present with the same shape. Returns the number of tensors loaded.
    """
    payload = load_checkpoint(Path(path), expected_hash)
    prefix = "backbone."
    weights = {k[len(prefix):]: v for k, v in payload["model"].items() if k.startswith(prefix)}
    own = model.backbone.state_dict()
    missing = sorted(set(own) - set(weights))
    mismatched = sorted(k for k in own if k in weights and weights[k].shape != own[k].shape)
    if missing or mismatched:
        raise ValueError(
            f"{path} does not fit this backbone: missing {missing[:5]}, shape mismatch "
            f"{mismatched[:5]}; was it trained with another backbone or backbone options?"
        )
    model.backbone.load_state_dict(weights)
    return len(weights)


def trained_iterations(path: Path) -> int | None:
    """The iterations a run trained, as its ``model.pt`` records them (``iteration``); None for a
    file written before it was recorded."""
    iteration = load_checkpoint(Path(path)).get("iteration")
    return None if iteration is None else int(iteration)
