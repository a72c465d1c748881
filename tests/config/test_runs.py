"""Resolved run configs: variants and their heads, ablation variants, the run matrix."""

from __future__ import annotations

from pathlib import Path

from morse.config import REPO_ROOT, ablation_identities, load_config, run_config


def test_ablation_identity_is_recorded_in_the_run_config(tmp_path: Path) -> None:
    text = (REPO_ROOT / "config" / "tiny.yaml").read_text() + (
        "ablations:\n  base: morse\n  knobs:\n    num_points: [32]\n    stochastic_gating: [false]\n")
    path = tmp_path / "ablations.yaml"
    path.write_text(text)
    config = load_config(path)
    assert ablation_identities(config) == {
        "morse-num_points-32": {"base": "morse", "knob": "num_points", "value": 32},
        "morse-stochastic_gating-false": {"base": "morse", "knob": "stochastic_gating", "value": False},
    }
    run = run_config(config, "phantom2d", "unet", "morse-stochastic_gating-false", 0)
    assert run["ablation"] == {"base": "morse", "knob": "stochastic_gating", "value": False}
    assert run["head"]["stochastic_gating"] is False
    assert "ablation" not in run_config(config, "phantom2d", "unet", "morse", 0)
