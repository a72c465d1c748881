"""The claims registry: the shipped one, and bad ones refused with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from morse.analysis.claims import CLAIMS_PATH, claim_pairs, load_claims
from morse.cli import main
from morse.config import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _registry(tmp_path: Path, **changes: object) -> Path:
    """The shipped registry with the first claim changed (None removes a key)."""
    data = yaml.safe_load(CLAIMS_PATH.read_text())
    for key, value in changes.items():
        if value is None:
            data["claims"][0].pop(key)
        else:
            data["claims"][0][key] = value
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_shipped_registry_names_the_papers_claims() -> None:
    claims = {c.id: c for c in load_claims()}
    assert {"dice_coarse", "dice_refined", "hd95", "boundaries", "beats_pointrend", "beats_implicit_pointrend",
            "stochastic_gating", "more_experts", "more_points"} <= set(claims)  # fmt: skip
    assert claims["dice_coarse"].arm == ("morse", "coarse")
    assert claims["dice_coarse"].reference_arm == ("baseline", "coarse")
    assert claims["dice_refined"].arm == ("morse", "refined")
    assert claims["hd95"].metrics == {"hd95_mm": "lower"}
    assert claims["boundaries"].metrics == {"nsd": "higher", "boundary_iou": "higher"}
    assert claims["beats_pointrend"].reference_arm == ("pointrend", "refined")
    assert claims["stochastic_gating"].reference_arm == ("morse_deterministic", "refined")
    assert claims["more_experts"].trend == "num_experts" and claims["more_experts"].reference_arm is None
    # the pairs compare adds: those of the 7 comparison claims, each once (Dice and HD95 share
    # coarse vs baseline, Dice and the boundary metrics refined vs baseline), in registry order
    pairs = claim_pairs(list(claims.values()))
    assert pairs[:2] == [(("morse", "coarse"), ("baseline", "coarse")), (("morse", "refined"), ("baseline", "coarse"))]
    assert (("morse", "refined"), ("pointrend", "refined")) in pairs
    assert len(pairs) == len(set(pairs)) == 5


def test_an_unknown_key_is_refused_naming_it_and_the_claim(tmp_path: Path) -> None:
    path = _registry(tmp_path, metrix={"dice": "higher"})
    with pytest.raises(ConfigError, match=r"claim 'dice_coarse' \(claims\[0\]\): unknown key 'metrix'; known keys: "):
        load_claims(path)


def test_check_refuses_a_registry_with_an_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _registry(tmp_path, sentence="typo of claim")
    config = str(REPO / "config" / "tiny.yaml")
    assert main(["check", "--config", config, "--claims", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'sentence'" in err[0] and str(path) in err[0]
    assert main(["check", "--config", config]) == 0  # the shipped registry passes
    assert "9 claim(s)" in capsys.readouterr().out
    # the config's `claims` key names the registry check reads
    named = tmp_path / "named.yaml"
    named.write_text((REPO / "config" / "tiny.yaml").read_text() + f"claims: {path}\n")
    assert main(["check", "--config", str(named)]) == 1
    assert "unknown key 'sentence'" in capsys.readouterr().err


@pytest.mark.parametrize(("changes", "message"), [
    ({"metrics": {"dice_score": "higher"}}, r"unknown metric 'dice_score'; the compared metrics are dice, "),
    ({"metrics": {"dice": "up"}}, r"key 'metrics.dice': 'up' is not one of \['higher', 'lower'\]"),
    ({"trend": "num_experts"}, r"give exactly one of 'reference' .* and 'trend'"),
    ({"reference": None}, r"give exactly one of 'reference'"),
    ({"output": "fine"}, r"key 'output': 'fine' is not one of"),
    ({"label": None}, r"'label' is a required property"),
])  # fmt: skip
def test_bad_claims_are_refused(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_claims(_registry(tmp_path, **changes))


def test_a_repeated_id_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(CLAIMS_PATH.read_text())
    data["claims"][1]["id"] = data["claims"][0]["id"]
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="claim id 'dice_coarse' is given twice"):
        load_claims(path)
