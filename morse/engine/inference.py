"""Whole-volume inference for slice-wise (2D) models, as in the authors' test scripts."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from morse.engine.device import autocast
from morse.method import Segmenter


def _pad_to_multiple(x: torch.Tensor, divisor: int) -> tuple[torch.Tensor, tuple[int, int]]:
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % divisor, (-width) % divisor
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (height, width)


@torch.no_grad()
def predict_volume_2d(
    model: Segmenter,
    image: np.ndarray,
    network_size: tuple[int, int],
    device: torch.device,
    slice_batch: int = 16,
    amp: bool = False,
    overwritten: bool = False,
    refine: bool = True,
) -> dict[str, np.ndarray]:
    """Predict a (C, Z, Y, X) volume slice by slice.

    Each axial slice is resized to ``network_size`` (bicubic), predicted, and the label map is
    resized back with nearest neighbour, as in the authors' ``test_single_volume``. Returns
    ``{"coarse": (Z, Y, X) uint8, "refined": ...}`` (refined only with a head). With
    ``overwritten`` and a head, also ``"overwritten"``: (S, Z, Y, X) bool, the pixels each of
    the S subdivision steps overwrote, resized back like the labels. ``refine=False``: only
    ``"coarse"`` (the head does not run; what training validates).
    """
    model.eval()
    channels, depth, height, width = image.shape
    outputs = {"coarse": np.zeros((depth, height, width), np.uint8)}
    if model.has_head and refine:
        outputs["refined"] = np.zeros_like(outputs["coarse"])
        steps = model.head_config.subdivision_steps
        if overwritten and steps > 0:
            outputs["overwritten"] = np.zeros((steps, depth, height, width), bool)
    divisor = getattr(model.backbone, "size_divisor", 1)
    for first in range(0, depth, slice_batch):
        slices = torch.from_numpy(np.ascontiguousarray(image[:, first:first + slice_batch]))
        slices = slices.permute(1, 0, 2, 3).float().to(device)  # (S, C, Y, X)
        if (height, width) != tuple(network_size):
            slices = F.interpolate(slices, size=network_size, mode="bicubic", align_corners=False)
        slices, size = _pad_to_multiple(slices, divisor)
        with autocast(device, amp):
            predictions = model.predict(slices, overwritten="overwritten" in outputs, refine=refine)
        for name, logits in predictions.items():
            if name not in outputs:
                continue
            if name == "overwritten":  # (S', S, Y, X) bool -> (S, S', Y, X) at the volume's size
                maps = logits[..., : size[0], : size[1]].float()
            else:
                maps = logits[..., : size[0], : size[1]].argmax(1, keepdim=True).float()
            if (height, width) != tuple(network_size):
                # pixel-centre nearest, as the image was resized (align_corners=False); torch's
                # "nearest" (floor) shifts thin structures by up to half a pixel
                maps = F.interpolate(maps, size=(height, width), mode="nearest-exact")
            if name == "overwritten":
                outputs[name][:, first:first + slice_batch] = maps.transpose(0, 1).cpu().numpy() > 0
            else:
                outputs[name][first:first + slice_batch] = maps[:, 0].to(torch.uint8).cpu().numpy()
    return outputs


@torch.no_grad()
def inference_points_2d(
    model: Segmenter, image_slice: np.ndarray, device: torch.device, num_points: int
) -> np.ndarray:
    """The points the uncertainty sampler picks on one (C, Y, X) slice, as (row, col) pixels."""
    if not model.has_head:
        return np.zeros((0, 2), np.float32)
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(image_slice))[None].float().to(device)
    coarse = model.predict(x)["coarse"]
    points = model.uncertain_points(coarse, num_points)[0].cpu().numpy()  # (P, 2) as (x, y) in [0, 1]
    height, width = image_slice.shape[-2:]
    rows = points[:, 1] * height - 0.5
    cols = points[:, 0] * width - 0.5
    return np.stack([rows, cols], axis=1).astype(np.float32)
