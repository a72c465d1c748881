"""Segmentation backbones behind one contract (see ``baselines.registry``)."""

from baselines.registry import (
    available_backbones,
    backbone_spatial_dims,
    build_backbone,
    get_backbone_spec,
    register,
)

__all__ = [
    "available_backbones",
    "backbone_spatial_dims",
    "build_backbone",
    "get_backbone_spec",
    "register",
]
