"""Atomic writes and the prepared-format container (DatasetInfo, write/read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from morse.common import atomic_path
from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import (
    DatasetInfo,
    load_case,
    read_dataset_info,
    write_prepared_dataset,
)


def _info(cases=("a", "b")) -> DatasetInfo:
    return DatasetInfo(
        name="toy",
        spatial_dims=2,
        modalities=["CT"],
        class_names=["background", "fg"],
        splits={"train": [cases[0]], "val": [], "test": list(cases[1:])},
        spacing={c: [3.0, 0.5, 0.5] for c in cases},
        regions={"all": [1]},
    )


def _case(name: str, z: int = 2) -> tuple[str, np.ndarray, np.ndarray]:
    return (
        name,
        np.random.default_rng(0).random((1, z, 4, 5)).astype(np.float32),
        np.ones((z, 4, 5), np.uint8),
    )


def _names(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_atomic_file_keeps_suffix_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.npy"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".npy") and tmp != target
        np.save(tmp, np.arange(3))  # np.save would append ".npy" if the suffix were lost
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    with atomic_path(target) as tmp:
        np.save(tmp, np.arange(5))
    assert np.load(target).shape == (5,)
    assert _names(target.parent) == ["x.npy"]


def test_atomic_exception_midway_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "dir") as tmp:
        (tmp / "deep").mkdir(parents=True)
        (tmp / "deep" / "f.txt").write_text("half")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert _names(tmp_path) == []


def test_atomic_directory_replaces_existing_and_keeps_it_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "old.txt").write_text("1")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.mkdir()
        raise ValueError
    assert _names(target) == ["old.txt"]
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("2")
    assert _names(target) == ["new.txt"] and _names(tmp_path) == ["out"]


def test_atomic_nothing_written_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "f"):
        pass


def test_write_read_round_trip(tmp_path: Path) -> None:
    info = _info()
    write_prepared_dataset(tmp_path / "ds", info, [_case("a"), _case("b", z=3)])
    assert _names(tmp_path / "ds") == ["dataset.json", "images", "labels"]
    assert read_dataset_info(tmp_path / "ds") == info
    assert DatasetInfo.from_dict(info.to_dict()) == info
    image, label = load_case(tmp_path / "ds", "b", mmap=False)
    assert image.shape == (1, 3, 4, 5) and image.dtype == np.float32 and label.dtype == np.uint8


def test_write_fails_midway_leaves_nothing(tmp_path: Path) -> None:
    def cases():
        yield _case("a")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_prepared_dataset(tmp_path / "ds", _info(), cases())
    assert _names(tmp_path) == []
    name, image, label = _case("b")
    with pytest.raises(DataError, match="'b'.*\\(1, 2, 4, 5\\).*\\(3, 4, 5\\)"):
        write_prepared_dataset(
            tmp_path / "ds", _info(), [_case("a"), (name, image, label[:1].repeat(3, 0))]
        )
    with pytest.raises(DataError, match=r"\['b'\]"):  # a split case never written
        write_prepared_dataset(tmp_path / "ds", _info(), [_case("a")])
    with pytest.raises(DataError, match="outside"):
        write_prepared_dataset(tmp_path / "ds", _info(), [_case("a"), (name, image, label * 2)])
    assert _names(tmp_path) == []


def test_read_missing_says_what_and_how(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=f"{tmp_path / 'nope'}.*prepare"):
        read_dataset_info(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="dataset.json.*prepare"):
        read_dataset_info(tmp_path / "empty")
    with pytest.raises(MissingDataError, match="'zz'"):
        load_case(tmp_path / "empty", "zz")
