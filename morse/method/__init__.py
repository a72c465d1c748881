"""The paper's contribution, pure torch, no I/O: point sampling, point heads, experts with
stochastic gating, and the Segmenter that wraps any backbone.

The head configuration (:mod:`~morse.method.config`) is plain Python and imported eagerly; the
torch modules load on first use, so the config layer and the Snakefile stay torch-free.
"""

from importlib import import_module
from typing import Any

from morse.method.config import VARIANTS, HeadConfig, resolve_head_config

_LAZY = {"CoarseLoss": "morse.method.losses", "point_loss_weight": "morse.method.losses",
         "Segmenter": "morse.method.segmenter"}  # fmt: skip

__all__ = [
    "VARIANTS",
    "CoarseLoss",
    "HeadConfig",
    "Segmenter",
    "point_loss_weight",
    "resolve_head_config",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'morse.method' has no attribute {name!r}")
