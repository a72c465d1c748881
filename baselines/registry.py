"""Backbone registry: every backbone is a builder registered under a name.

Contract (see docs/add_a_backbone.md): ``build(in_channels, num_classes, spatial_dims, **options)`` returns an
``nn.Module`` whose ``forward(x)`` returns ``(coarse_logits, features)`` where ``features`` is the
list of decoder feature maps ordered coarse to fine, and which exposes ``feature_channels`` (the
channel count of each of those maps, same order) and ``spatial_dims``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the backbone modules, not by the registry
    from torch import nn

BackboneBuilder = Callable[..., "nn.Module"]


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: its builder and the spatial dimensionalities it supports."""

    name: str
    builder: BackboneBuilder
    spatial_dims: tuple[int, ...]


_REGISTRY: dict[str, BackboneSpec] = {}

# Modules imported on first lookup so that their ``@register`` decorators run.
_BUILTIN_MODULES = (
    "baselines.unet",
    "baselines.transunet",
    "baselines.vnet",
    "baselines.unetr",
    "baselines.swinunetr",
)
# The built-in backbones' dimensionalities, so that checking a config needs no torch (a test
# checks them against what each module registers).
BUILTIN_SPATIAL_DIMS = {"unet": (2, 3), "transunet": (2,), "vnet": (3,), "unetr": (3,),
                        "swinunetr": (3,)}  # fmt: skip


def register(name: str, spatial_dims: tuple[int, ...]) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Class/function decorator registering a backbone builder under ``name``."""

    def decorator(builder: BackboneBuilder) -> BackboneBuilder:
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"backbone {name!r} is registered twice")
        if name in BUILTIN_SPATIAL_DIMS and tuple(spatial_dims) != BUILTIN_SPATIAL_DIMS[name]:
            raise ValueError(f"backbone {name!r}: update BUILTIN_SPATIAL_DIMS in baselines/registry.py "
                             f"to {tuple(spatial_dims)}")
        _REGISTRY[name] = BackboneSpec(name, builder, tuple(spatial_dims))
        return builder

    return decorator


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available_backbones() -> list[str]:
    """Names of all registered backbones, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_backbone_spec(name: str) -> BackboneSpec:
    """Look a backbone up by registry name or by ``package.module:builder`` import path."""
    _load_builtins()
    if ":" in name and name not in _REGISTRY:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(f"cannot import backbone module {module_name!r}: {error}") from error
        if name in _REGISTRY:  # the module registered itself under the import path
            return _REGISTRY[name]
        builder = getattr(module, attr, None)
        if builder is None:
            raise ValueError(f"module {module_name!r} has no backbone builder {attr!r}")
        dims = tuple(getattr(builder, "spatial_dims", (2, 3)))
        return BackboneSpec(name, builder, dims)
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown backbone {name!r}; available: {', '.join(sorted(_REGISTRY))} "
            "(or give 'package.module:builder')"
        )
    return _REGISTRY[name]


def backbone_spatial_dims(name: str) -> tuple[int, ...]:
    """The dimensionalities a backbone supports; the built-ins without importing torch."""
    if name in BUILTIN_SPATIAL_DIMS:
        return BUILTIN_SPATIAL_DIMS[name]
    return get_backbone_spec(name).spatial_dims


def build_backbone(
    name: str, in_channels: int, num_classes: int, spatial_dims: int, **options
) -> nn.Module:
    """Build a registered backbone, checking it supports ``spatial_dims``."""
    spec = get_backbone_spec(name)
    if spatial_dims not in spec.spatial_dims:
        raise ValueError(
            f"backbone {name!r} supports spatial_dims {list(spec.spatial_dims)}, but the dataset is "
            f"{spatial_dims}D; choose a {spatial_dims}D backbone for it"
        )
    model = spec.builder(in_channels, num_classes, spatial_dims, **options)
    for attribute in ("feature_channels",):
        if not hasattr(model, attribute):
            raise TypeError(f"backbone {name!r} does not expose {attribute!r} (see baselines/registry.py)")
    return model
