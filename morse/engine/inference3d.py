"""Whole-volume inference for 3D models: sliding windows with Gaussian blending (MONAI)."""

from __future__ import annotations

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from morse.engine.device import autocast
from morse.method import Segmenter

__all__ = ["network_patch_size", "predict_volume_3d"]


def network_patch_size(model: Segmenter, patch_size: tuple[int, int, int]) -> tuple[int, int, int]:
    """The window the network sees: ``patch_size`` rounded up to the backbone's ``size_divisor``.

    A backbone with a fixed input size (``img_size``, e.g. UNETR) must be given exactly that size.
    """
    if len(patch_size) != 3:
        raise ValueError(f"patch_size must have 3 entries (Z, Y, X), got {patch_size}")
    backbone = model.backbone
    fixed = getattr(backbone, "img_size", None)
    if fixed is not None and len(tuple(fixed)) == 3:
        if tuple(int(p) for p in patch_size) != tuple(fixed):
            raise ValueError(
                f"backbone accepts only inputs of size {tuple(fixed)} (its img_size); "
                f"got patch_size {tuple(patch_size)}"
            )
        return tuple(int(p) for p in fixed)  # type: ignore[return-value]
    divisor = int(getattr(backbone, "size_divisor", 1))
    return tuple(int(-(-int(p) // divisor) * divisor) for p in patch_size)  # type: ignore[return-value]


@torch.no_grad()
def predict_volume_3d(
    model: Segmenter,
    image: np.ndarray,
    patch_size: tuple[int, int, int],
    device: torch.device,
    overlap: float = 0.5,
    sw_batch_size: int = 1,
    amp: bool = False,
    overwritten: bool = False,
    refine: bool = True,
) -> dict[str, np.ndarray]:
    """Predict a (C, Z, Y, X) volume with overlapping windows and Gaussian-weighted blending.

    Each window runs ``model.predict`` (coarse logits and, with a head, point-refined logits);
    both logit maps are blended over windows, then arg-maxed. The volume is zero-padded to at
    least one window (MONAI pads and crops back). Returns ``{"coarse": (Z, Y, X) uint8}`` plus
    ``"refined"`` when the model has a point head. Blending runs on the CPU; windows on ``device``.
    With ``overwritten`` and a head, also ``"overwritten"``: (S, Z, Y, X) bool, the voxels
    subdivision step s overwrote in at least one window. ``refine=False``: only ``"coarse"``
    (the head does not run; what training validates).
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (C, Z, Y, X), got shape {image.shape}")
    model.eval()
    roi = network_patch_size(model, patch_size)
    head = model.has_head and refine
    names = ["coarse", "refined"] if head else ["coarse"]
    trace = overwritten and head and model.head_config.subdivision_steps > 0

    def predictor(window: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(device, amp):
            out = model.predict(window.to(device), overwritten=trace, refine=head)
        return {name: out[name].float() for name in names + (["overwritten"] if trace else [])}

    x = torch.from_numpy(np.array(image, dtype=np.float32))[None]  # copy: may be a read-only map
    logits = sliding_window_inference(
        x,
        roi_size=roi,
        sw_batch_size=sw_batch_size,
        predictor=predictor,
        overlap=overlap,
        mode="gaussian",
        padding_mode="constant",
        cval=0.0,
        sw_device=device,
        device=torch.device("cpu"),
        progress=False,
    )
    assert isinstance(logits, dict)
    outputs = {
        name: torch.as_tensor(logits[name])[0].argmax(0).to(torch.uint8).numpy() for name in names
    }
    if trace:  # blended 0/1 indicators: positive where any window overwrote the voxel
        outputs["overwritten"] = (torch.as_tensor(logits["overwritten"])[0] > 0).numpy()
    return outputs
