"""``kind: acdc`` uses the authors' split (SSL4MIS's lists) by default, in every format; the
project's stratified split stays as ``split: stratified``; a ``split`` that meets the default is
explained."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from real_layouts import acdc_files

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import read_dataset_info
from morse.data.recipes.acdc_split import authors_split, split_request
from morse.data.recipes.registry import fetch_dataset, prepare_dataset

# SSL4MIS data/ACDC/test.list and val.list, written out once more by hand
TEST = ["001", "007", "008", "011", "013", "022", "024", "033", "052", "059", "064", "065", "066", "068", "075", "080", "081", "083", "084", "093"]
VAL = ["002", "019", "028", "030", "039", "045", "078", "082", "085", "087"]


def test_authors_split_is_ssl4mis_lists() -> None:
    split = authors_split()
    assert split["test"] == [f"patient{n}" for n in TEST]
    assert split["val"] == [f"patient{n}" for n in VAL]
    assert len(split["train"]) == 70 and split["train"][:3] == ["patient003", "patient004", "patient005"]
    assert sorted(split["train"] + split["val"] + split["test"]) == [f"patient{i:03d}" for i in range(1, 101)]


@pytest.fixture(scope="module")
def acdc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The organisers' layout with all 100 training patients (tiny NIfTI files)."""
    root = tmp_path_factory.mktemp("acdc") / "ACDC"
    for name, data in acdc_files(per_group=20).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def prepare(tmp_path: Path, root: Path, **extra) -> dict[str, list[str]]:
    entry = {"kind": "acdc", "source": "local", "path": str(root), **extra}
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    fetch_dataset("acdc", entry, raw)
    prepare_dataset("acdc", entry, raw, out)
    return read_dataset_info(out).splits


def patients(splits: dict[str, list[str]]) -> dict[str, list[str]]:
    return {s: sorted({c.split("_")[0] for c in cases}) for s, cases in splits.items()}


def test_nifti_default_is_the_authors_split(tmp_path: Path, acdc_root: Path) -> None:
    splits = prepare(tmp_path, acdc_root)
    assert patients(splits) == authors_split()
    assert "patient001_ED" in splits["test"] and "patient001_ES" in splits["test"]
    assert len(splits["train"]) == 140  # both annotated frames of the 70 training patients
    assert patients(prepare(tmp_path / "again", acdc_root, split="authors")) == authors_split()


def test_stratified_is_kept_and_fractions_say_they_win(
    tmp_path: Path, acdc_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stratified = patients(prepare(tmp_path / "a", acdc_root, split="stratified"))
    # the project's earlier split (docs/datasets.md), unchanged
    assert stratified["val"] == [f"patient{n}" for n in ["014", "017", "023", "027", "046", "049", "062", "075", "084", "094"]]
    assert len(stratified["test"]) == 20 and stratified != authors_split()
    with caplog.at_level(logging.WARNING, logger="morse.data.recipes.acdc_split"):
        fractions = patients(prepare(tmp_path / "b", acdc_root, split={"test_fraction": 0.2, "seed": 0}))
    assert fractions == stratified
    assert "the stratified split wins over the authors' split" in caplog.text
    assert patients(prepare(tmp_path / "c", acdc_root, split={"strategy": "stratified", "seed": 1})) != stratified


def test_lists_win_and_conflicts_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="morse.data.recipes.acdc_split"):
        assert split_request({"train": ["patient003"], "test": ["patient001"]})[0] == "lists"
    assert "the config's `split` lists win over the authors' split" in caplog.text
    with pytest.raises(DataError, match="has both lists"):
        split_request({"strategy": "stratified", "test": ["patient001"]})
    with pytest.raises(DataError, match=r"`split.strategy: authors` is a fixed split and takes no \['seed'\]"):
        split_request({"strategy": "authors", "seed": 3})
    assert split_request(None) == ("authors", {})


def test_partial_copy_with_the_authors_split_says_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "ACDC"
    for name, data in acdc_files(per_group=2).items():  # patients 001-010
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with pytest.raises(MissingDataError, match=r"patient012 of the 'train' split is missing.*"
                                               r"for a partial copy set `split: stratified`"):
        prepare(tmp_path, root)
    assert not (tmp_path / "prepared").exists()
