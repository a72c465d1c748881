"""The paper's contribution, pure torch, no I/O: point sampling, point heads, experts with
stochastic gating, and the Segmenter that wraps any backbone."""

from morse.method.config import VARIANTS, HeadConfig, resolve_head_config
from morse.method.losses import CoarseLoss, point_loss_weight
from morse.method.segmenter import Segmenter

__all__ = [
    "VARIANTS",
    "CoarseLoss",
    "HeadConfig",
    "Segmenter",
    "point_loss_weight",
    "resolve_head_config",
]
