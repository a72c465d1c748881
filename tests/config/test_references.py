"""The published numbers' rows and regime.min_reference_fraction, refused at config check time."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from morse.config import REFERENCE_RESULTS, ConfigError, check_references, validate_config
from morse.config.references import REFERENCE_COLUMNS

ROW = {"dataset": "acdc", "backbone": "unet", "variant": "baseline", "output": "coarse", "class": "mean",
       "metric": "dice", "value": "87.55", "unit": "%", "source": "TransUNet paper", "table": "ACDC table",
       "note": "", "role": "backbone_reference", "protocol": "2D R50-U-Net at 224 px"}  # fmt: skip


def _write(path: Path, *rows: dict) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=REFERENCE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_shipped_references_pass_and_name_one_field_reference_per_pair(tiny: dict) -> None:
    check_references(validate_config(tiny), REFERENCE_RESULTS)
    rows = list(csv.DictReader(REFERENCE_RESULTS.read_text().splitlines()))
    field = {(r["dataset"], r["backbone"]): float(r["value"]) for r in rows if r["role"] == "backbone_reference"}
    assert field == {("synapse", "unet"): 76.16, ("synapse", "transunet"): 77.48,
                     ("acdc", "unet"): 87.55, ("acdc", "transunet"): 89.71}  # fmt: skip
    assert all(r["protocol"] for r in rows if r["role"] == "backbone_reference")


@pytest.mark.parametrize(("change", "message"), [
    ({"dataset": "acdc_2017"}, r"ref\.csv:3 \(acdc_2017 / unet / dice\): column 'dataset' has unknown value "
                               r"'acdc_2017'; known: .*acdc.*synapse.*dataset kinds, not experiment dataset names"),
    ({"backbone": "r50unet"}, r"ref\.csv:3 .*column 'backbone' has unknown value 'r50unet'; known: .*unet"),
    ({"metric": "dsc"}, r"ref\.csv:3 .*column 'metric' has unknown value 'dsc'; known: .*dice"),
    ({"role": "reference"}, r"column 'role' has unknown value 'reference'; known: backbone_reference, published"),
    ({"value": "n/a"}, r"ref\.csv:3 .*column 'value' is 'n/a'; give the published number"),
    ({"table": "2"}, r"ref\.csv:3 .*a second backbone_reference for acdc / unet / dice \(the first is on line 2\)"),
    ({"dataset": "msd"}, r"ref\.csv:3 \(msd / unet / dice\): kind 'msd' reads many data sets .*set its role to "
                         r"'published'"),
    ({"dataset": "nnunet"}, r"ref\.csv:3 .*kind 'nnunet' reads many data sets"),
])  # fmt: skip
def test_a_bad_reference_row_is_refused_naming_file_line_and_column(tmp_path: Path, tiny: dict, change: dict,
                                                                    message: str) -> None:  # fmt: skip
    config = validate_config(tiny)
    path = _write(tmp_path / "ref.csv", ROW, {**ROW, **change})
    with pytest.raises(ConfigError, match=message):
        check_references(config, path)


def test_a_backbone_the_config_names_is_known_and_an_empty_role_is_published(tmp_path: Path, tiny: dict) -> None:
    config = validate_config(tiny)
    config["backbones"]["mypackage.nets:build"] = {}
    check_references(config, _write(tmp_path / "ref.csv", ROW, {**ROW, "backbone": "mypackage.nets:build"},
                                    {**ROW, "role": ""}))  # fmt: skip


def test_a_generic_kind_may_carry_published_numbers_but_no_field_reference(tmp_path: Path, tiny: dict) -> None:
    published = {**ROW, "dataset": "msd", "role": "published"}
    check_references(validate_config(tiny), _write(tmp_path / "ref.csv", ROW, published))


def test_missing_columns_are_named(tmp_path: Path, tiny: dict) -> None:
    (tmp_path / "old.csv").write_text("dataset,backbone,metric,value\nacdc,unet,dice,87.55\n")
    with pytest.raises(ConfigError, match=r"old\.csv: missing column\(s\) \['variant'.*'role', 'protocol'\]"):
        check_references(validate_config(tiny), tmp_path / "old.csv")


@pytest.mark.parametrize("value", [0, -0.5, 1.5, float("nan"), "0.9"])
def test_min_reference_fraction_outside_zero_one_is_refused(tiny: dict, value: object) -> None:
    tiny["regime"] = {"min_reference_fraction": value}
    with pytest.raises(ConfigError, match=r"regime\.min_reference_fraction"):
        validate_config(tiny)


def test_min_reference_fraction_defaults_and_one_is_allowed(tiny: dict) -> None:
    assert validate_config(tiny)["regime"] == {"min_reference_fraction": 0.9}
    tiny["regime"] = {"min_reference_fraction": 1}
    assert validate_config(tiny)["regime"]["min_reference_fraction"] == 1


def test_morse_bench_check_names_the_key(tmp_path: Path, tiny: dict) -> None:
    tiny["regime"] = {"min_reference_fraction": 1.2}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny))
    done = subprocess.run([sys.executable, "-m", "morse.cli", "check", "--config", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 1
    assert "config key 'regime.min_reference_fraction'" in done.stderr and len(done.stderr.splitlines()) == 1
