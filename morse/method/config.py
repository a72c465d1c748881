"""Head configuration: every knob of the MORSE head, with defaults faithful to the public code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

HEADS = ("none", "standard", "implicit")
FUSIONS = ("none", "dense", "pointwise")
FOURIER_INITS = ("uniform", "gaussian")
SCHEDULES = ("ramp", "constant")
GATE_RESOLUTIONS = ("full", "coarse")


def _check_int(name: str, value: Any, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "an integer or None" if optional else "an integer"
        raise ValueError(f"HeadConfig.{name} must be {kind} >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"HeadConfig.{name} must be >= {minimum}, got {value!r}")


def _check_float(name: str, value: Any, low: float, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"HeadConfig.{name} must be a number, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        upper = "inf" if high is None else f"{high:g}"
        raise ValueError(f"HeadConfig.{name} must lie in {lo}{low:g}, {upper}{hi}, got {value!r}")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(
            f"HeadConfig.{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}"
        )


# The rules that bound knobs by the number of experts K, each checked here only: by HeadConfig
# when ``num_experts`` is given, and by :meth:`HeadConfig.experts` once the backbone sets K.
def _check_dropped_experts(num_experts: int, max_dropped_experts: int | None) -> None:
    """At most K - 1 experts are dropped, so that one always survives."""
    if max_dropped_experts is not None and max_dropped_experts > num_experts - 1:
        raise ValueError(
            "HeadConfig.max_dropped_experts must be <= num_experts - 1 "
            f"({num_experts - 1}) so that one expert always survives, "
            f"got {max_dropped_experts}"
        )


def _check_coarse_gate(num_experts: int, gate_resolution: str) -> None:
    """A coarse gate runs at the second-finest expert's size, so it needs two experts."""
    if gate_resolution != "full" and num_experts < 2:
        raise ValueError("HeadConfig.gate_resolution='coarse' needs num_experts >= 2")


@dataclass(frozen=True)
class HeadConfig:
    """All knobs of the point-rendering head; defaults follow the authors' public code.

    ``head_type``: "none" (bare backbone), "standard" (PointRend) or "implicit" (Implicit
    PointRend / MORSE). ``fusion``: "none" (the code's FeatureExtractor path), "dense" (MOEHead, per-pixel
    experts) or "pointwise" (PointRendSepMoE, experts mixed at the sampled points).
    ``gate_resolution`` (cost knob, dense fusion only): "full" (faithful) runs the 3x3 gate at the
    finest level; "coarse" runs it at the second-finest expert level and upsamples the K gate
    weights (bi/tri)linearly (not in the paper; for the cost-versus-accuracy ablation).
    """

    head_type: str = "implicit"
    fusion: str = "dense"
    num_experts: int | None = None
    expert_width: int = 256
    stochastic_gating: bool = True
    max_dropped_experts: int | None = None
    num_points: int = 2048
    oversample_ratio: float = 3.0
    importance_ratio: float = 0.75
    subdivision_steps: int = 2
    subdivision_points: int = 8192
    fourier_features: int = 128
    fourier_init: str = "uniform"
    fourier_scale: float = 1.0
    point_head_layers: int = 3
    dropout: float = 0.1
    point_loss_schedule: str = "ramp"
    point_loss_weight: float = 1.0
    gate_resolution: str = "full"
    # joint iterations at the start during which the point loss trains the head only: its
    # gradient does not reach the backbone (0: from the first iteration, as the authors' code)
    head_warmup: int = 0

    def __post_init__(self) -> None:
        _check_choice("head_type", self.head_type, HEADS)
        _check_choice("fusion", self.fusion, FUSIONS)
        _check_int("num_experts", self.num_experts, 1, optional=True)
        _check_int("expert_width", self.expert_width, 1)
        if not isinstance(self.stochastic_gating, bool):
            raise ValueError(
                f"HeadConfig.stochastic_gating must be true or false, got {self.stochastic_gating!r}"
            )
        _check_int("max_dropped_experts", self.max_dropped_experts, 0, optional=True)
        if self.num_experts is not None:
            _check_dropped_experts(self.num_experts, self.max_dropped_experts)
        _check_int("num_points", self.num_points, 1)
        _check_float("oversample_ratio", self.oversample_ratio, 1.0)
        _check_float("importance_ratio", self.importance_ratio, 0.0, 1.0)
        _check_int("subdivision_steps", self.subdivision_steps, 0)
        _check_int("subdivision_points", self.subdivision_points, 1)
        _check_int("fourier_features", self.fourier_features, 1)
        _check_choice("fourier_init", self.fourier_init, FOURIER_INITS)
        _check_float("fourier_scale", self.fourier_scale, 0.0, low_open=True)
        _check_int("point_head_layers", self.point_head_layers, 1)
        _check_float("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _check_choice("point_loss_schedule", self.point_loss_schedule, SCHEDULES)
        _check_float("point_loss_weight", self.point_loss_weight, 0.0)
        _check_choice("gate_resolution", self.gate_resolution, GATE_RESOLUTIONS)
        _check_int("head_warmup", self.head_warmup, 0)
        if self.gate_resolution != "full" and self.fusion != "dense":
            raise ValueError(
                "HeadConfig.gate_resolution='coarse' only applies to fusion='dense' (the per-pixel "
                f"gate); got fusion={self.fusion!r}"
            )
        if self.num_experts is not None:
            _check_coarse_gate(self.num_experts, self.gate_resolution)

    @property
    def has_head(self) -> bool:
        """True when a point head is attached (every variant except the bare backbone)."""
        return self.head_type != "none"

    def experts(self, feature_levels: int) -> tuple[int, int]:
        """(number of experts K, most experts dropped at once) on a backbone with
        ``feature_levels`` feature maps: ``num_experts`` (default: one per level) and
        ``max_dropped_experts`` (default: K - 1), checked against the rules K bounds."""
        count = self.num_experts if self.num_experts is not None else feature_levels
        if count > feature_levels:
            raise ValueError(
                f"HeadConfig.num_experts={count} but the backbone has only {feature_levels} "
                "feature levels"
            )
        _check_dropped_experts(count, self.max_dropped_experts)
        _check_coarse_gate(count, self.gate_resolution)
        return count, count - 1 if self.max_dropped_experts is None else self.max_dropped_experts

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for run.json and checkpoints). ``head_warmup`` only when set:
        runs made before it existed keep their identity."""
        values = dataclasses.asdict(self)
        if values["head_warmup"] == 0:
            del values["head_warmup"]
        return values


VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"head_type": "none", "fusion": "none", "stochastic_gating": False},
    "pointrend": {"head_type": "standard", "fusion": "none", "stochastic_gating": False},
    "implicit_pointrend": {"head_type": "implicit", "fusion": "none", "stochastic_gating": False},
    "morse": {"head_type": "implicit", "fusion": "dense", "stochastic_gating": True},
    "morse_deterministic": {"head_type": "implicit", "fusion": "dense", "stochastic_gating": False},
}


def resolve_head_config(variant: str, overrides: dict[str, Any] | None = None) -> HeadConfig:
    """The named base configuration ``variant`` with ``overrides`` applied on top."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; available: {', '.join(VARIANTS)}")
    values = dict(VARIANTS[variant])
    valid = [field.name for field in dataclasses.fields(HeadConfig)]
    for key, value in (overrides or {}).items():
        if key not in valid:
            raise ValueError(
                f"unknown head option {key!r} (variant {variant!r}); valid keys: {', '.join(valid)}"
            )
        values[key] = value
    return HeadConfig(**values)
