"""What the schema cannot check, refused at config check time (before any job)."""

from __future__ import annotations

import pytest

from baselines import register
from morse.config import ConfigError, validate_config


def test_unknown_backbone_lists_the_available_ones(tiny: dict) -> None:
    tiny["backbones"] = {"resnet9000": {}}
    with pytest.raises(ConfigError, match=r"resnet9000.*available: .*unet"):
        validate_config(tiny)


def test_unknown_variant_lists_the_base_variants(tiny: dict) -> None:
    tiny["variants"] = {"morze": {}}
    with pytest.raises(ConfigError, match=r"morze.*baseline.*morse"):
        validate_config(tiny)


def test_unknown_head_knob_is_named(tiny: dict) -> None:
    tiny["variants"]["morse"] = {"num_expert": 3}
    with pytest.raises(ConfigError, match="num_expert"):
        validate_config(tiny)


@pytest.mark.parametrize(("knobs", "message"), [
    ({"num_experts": 2, "max_dropped_experts": 2},
     r"variants\.morse' / 'method': HeadConfig\.max_dropped_experts must be <= num_experts - 1 \(1\)"),
    ({"num_experts": 1, "gate_resolution": "coarse"},
     r"variants\.morse' / 'method': HeadConfig\.gate_resolution='coarse' needs num_experts >= 2"),
])
def test_expert_count_rules_are_checked_with_the_config(tiny: dict, knobs: dict, message: str) -> None:
    tiny["variants"]["morse"] = knobs
    with pytest.raises(ConfigError, match=message):
        validate_config(tiny)


def test_3d_only_backbone_on_2d_dataset_is_rejected(tiny: dict) -> None:
    @register("toy3d_only_for_config_test", spatial_dims=(3,))
    def build(in_channels, num_classes, spatial_dims, **options):  # pragma: no cover - never built
        raise AssertionError

    tiny["backbones"] = {"toy3d_only_for_config_test": {}}
    with pytest.raises(ConfigError, match=r"no dataset matches.*phantom2d.*2D"):
        validate_config(tiny)


def test_boundary_width_is_checked_against_the_phantoms_own_image_size(tiny: dict) -> None:
    tiny["datasets"]["phantom3d"] = {
        "kind": "phantom3d", "phantom": {"size": 32, "depth": 16},
        "train": {"patch_size": [16, 32, 32]}, "evaluate": {"boundary_iou_width": 17},
    }
    with pytest.raises(ConfigError, match=r"phantom3d\.evaluate\.boundary_iou_width.*\(16x32x32\)"):
        validate_config(tiny)
    tiny["datasets"]["phantom3d"]["evaluate"]["boundary_iou_width"] = 16
    validate_config(tiny)
    tiny["datasets"]["phantom2d"]["evaluate"] = {"boundary_iou_width": 97}  # no size: the default 96
    del tiny["datasets"]["phantom2d"]["phantom"]["size"]
    with pytest.raises(ConfigError, match=r"phantom2d\.evaluate\.boundary_iou_width.*\(96x96\)"):
        validate_config(tiny)


def test_a_variant_defined_exactly_as_an_ablation_point_is_accepted(tiny: dict) -> None:
    """The same definition under the same name is one variant (validating twice is harmless);
    another definition is refused (tests/reliability/test_bad_input_matrix.py)."""
    tiny["ablations"] = {"knobs": {"num_points": [32]}}
    tiny["variants"]["morse-num_points-32"] = {"base": "morse", "num_points": 32}
    config = validate_config(tiny)
    assert config["variants"]["morse-num_points-32"] == {"base": "morse", "num_points": 32}
    assert validate_config(config)["variants"] == config["variants"]


def test_expert_counts_are_checked_against_each_backbone_they_train_on(tiny: dict) -> None:
    tiny["variants"]["morse"] = {"num_experts": 6}  # the UNet hands the head 5 feature maps
    with pytest.raises(ConfigError, match=r"variants\.morse' / 'method': on backbone 'unet' \(5 feature maps"):
        validate_config(tiny)
    tiny["variants"]["morse"] = {"max_dropped_experts": 4}
    assert validate_config(tiny)["variants"]["morse"]["max_dropped_experts"] == 4


def test_nsd_tolerance_is_checked_against_the_phantoms_field_of_view(tiny: dict) -> None:
    # 2 slices of at least 2.5 mm and 64 x 64 pixels of at least 0.6 mm: sqrt(5^2 + 2 * 38.4^2)
    tiny["datasets"]["phantom2d"]["evaluate"] = {"nsd_tolerance_mm": 54.6}
    with pytest.raises(ConfigError, match=r"nsd_tolerance_mm': 54\.6 mm is larger .* measures 54\.5 mm"):
        validate_config(tiny)
    tiny["datasets"]["phantom2d"]["evaluate"] = {"nsd_tolerance_mm": 54.5}
    validate_config(tiny)
    tiny["datasets"]["brain"] = {"kind": "phantom3d", "phantom": {"size": 32, "depth": 16},
                                 "train": {"patch_size": [16, 32, 32]}, "evaluate": {"nsd_tolerance_mm": 48.5}}
    with pytest.raises(ConfigError, match=r"brain\.evaluate\.nsd_tolerance_mm': 48\.5 mm .* 48\.0 mm"):
        validate_config(tiny)  # 1 mm voxels: sqrt(16^2 + 32^2 + 32^2) = 48


def test_nan_and_infinity_are_refused_anywhere(tiny: dict) -> None:
    tiny["datasets"]["phantom2d"]["evaluate"] = {"nsd_tolerance_mm": float("inf")}
    with pytest.raises(ConfigError, match=r"'datasets\.phantom2d\.evaluate\.nsd_tolerance_mm': inf is not a finite"):
        validate_config(tiny)
