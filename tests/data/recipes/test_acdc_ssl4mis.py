"""``kind: acdc``, ``format: ssl4mis``: ACDC as SSL4MIS distributes it (the files the authors'
2D code reads), on tiny h5 files written here and on the real sample in ``shared/data``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from real_layouts import shared_data, write_h5, write_ssl4mis

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import load_case, read_dataset_info
from morse.data.recipes.registry import fetch_dataset, prepare_dataset

h5py_missing = pytest.mark.skipif(
    __import__("importlib").util.find_spec("h5py") is None,
    reason="h5py is absent: install the extra h5 (`pip install -e '.[h5]'`; `make test` does)",
)


def entry(path: Path, **extra) -> dict:
    return {"kind": "acdc", "source": "local", "path": str(path), "format": "ssl4mis", **extra}


def run(tmp_path: Path, config: dict) -> Path:
    raw, out = tmp_path / "data" / "raw" / "acdc", tmp_path / "data" / "prepared" / "acdc"
    fetch_dataset("acdc", config, raw)
    prepare_dataset("acdc", config, raw, out)
    return out


def fails(tmp_path: Path, config: dict, error: type[Exception], match: str) -> str:
    with pytest.raises(error, match=match) as caught:
        run(tmp_path, config)
    prepared = tmp_path / "data" / "prepared"
    assert not prepared.exists() or not list(prepared.iterdir())  # nor a temporary sibling
    return str(caught.value)


# --------------------------------------------------------------------------- tiny h5 files


@h5py_missing
@pytest.mark.parametrize("flat", [False, True])
def test_cases_split_spacing_and_slice_order(tmp_path: Path, flat: bool) -> None:
    cases = write_ssl4mis(tmp_path / "ACDC", flat=flat, depth=5)
    out = run(tmp_path, entry(tmp_path / "ACDC"))
    info = read_dataset_info(out)
    assert info.splits == {
        "train": ["patient003_frame01", "patient003_frame02", "patient004_frame01", "patient004_frame02"],
        "val": ["patient002_frame01", "patient002_frame02"],
        "test": ["patient001_frame01", "patient001_frame02", "patient007_frame01", "patient007_frame02"],
    }  # each split sorted, although the lists are written in reverse
    assert info.class_names == ["background", "right_ventricle", "myocardium", "left_ventricle"]
    assert info.spacing["patient003_frame01"] == [1.0, 1.0, 1.0]
    assert "1 mm assumed" in info.preparation["spacing"] and "voxels" in info.preparation["spacing"]
    assert info.preparation["split"].startswith("the folder's lists (4 / 2 / 4")
    for case, (image, label) in cases.items():
        got_image, got_label = load_case(out, case)
        np.testing.assert_array_equal(got_label, label)  # slice k at z = k (value k % 4 at (0, 0))
        np.testing.assert_array_equal(got_image[0], image)  # min-max scaled files kept as they are
    assert load_case(out, "patient004_frame02")[1][:, 0, 0].tolist() == [0, 1, 2, 3, 0]


@h5py_missing
def test_slices_numbered_from_zero_and_without_training_volumes(tmp_path: Path) -> None:
    cases = write_ssl4mis(tmp_path / "ACDC", first_slice=0, train_volumes=False)
    out = run(tmp_path, entry(tmp_path, split="authors"))  # the folder found below `path`
    np.testing.assert_array_equal(load_case(out, "patient003_frame02")[1], cases["patient003_frame02"][1])


@h5py_missing
def test_config_lists_take_patients_or_cases(tmp_path: Path) -> None:
    write_ssl4mis(tmp_path / "ACDC")
    out = run(tmp_path, entry(tmp_path / "ACDC", split={"train": ["patient003", "patient002_frame01"],
                                                         "test": ["patient007"]}))
    info = read_dataset_info(out)
    assert info.splits == {"train": ["patient003_frame01", "patient003_frame02", "patient002_frame01"],
                           "val": [], "test": ["patient007_frame01", "patient007_frame02"]}
    assert info.preparation["split"] == "the config's `split` lists"


# --------------------------------------------------------------------------- checks


@h5py_missing
def test_list_entry_without_its_file(tmp_path: Path) -> None:
    write_ssl4mis(tmp_path / "ACDC")
    (tmp_path / "ACDC" / "data" / "slices" / "patient004_frame01_slice_2.h5").unlink()
    fails(tmp_path, entry(tmp_path / "ACDC"), MissingDataError,
          r"train_slices\.list lists patient004_frame01_slice_2 but its file is missing: expected "
          r".*data/slices/patient004_frame01_slice_2\.h5")
    write_ssl4mis(tmp_path / "ACDC")  # the slice restored; a test case without its volume
    (tmp_path / "ACDC" / "test.list").write_text("patient001_frame01\npatient009_frame01\n")
    fails(tmp_path, entry(tmp_path / "ACDC"), MissingDataError,
          r"test\.list lists patient009_frame01 but its file is missing: expected .*data/patient009_frame01\.h5")


@h5py_missing
def test_slice_missing_from_the_numbering(tmp_path: Path) -> None:
    write_ssl4mis(tmp_path / "ACDC", depth=4)
    listed = (tmp_path / "ACDC" / "train_slices.list").read_text().replace("patient004_frame02_slice_3\n", "")
    (tmp_path / "ACDC" / "train_slices.list").write_text(listed)
    fails(tmp_path, entry(tmp_path / "ACDC"), MissingDataError,
          r"patient004_frame02: train_slices\.list lists slices 1-4 without patient004_frame02_slice_3")


@h5py_missing
def test_slice_whose_shape_differs_from_its_volume(tmp_path: Path) -> None:
    write_ssl4mis(tmp_path / "ACDC")
    bad = tmp_path / "ACDC" / "data" / "slices" / "patient003_frame02_slice_2.h5"
    write_h5(bad, image=np.zeros((8, 5), np.float32), label=np.zeros((8, 5), np.uint8))
    message = fails(tmp_path, entry(tmp_path / "ACDC"), DataError,
                    r"patient003_frame02_slice_2\.h5 is 8 x 5 but the slices of patient003_frame02")
    assert "data/patient003_frame02.h5 are 8 x 6" in message
    write_ssl4mis(tmp_path / "ACDC2", train_volumes=False)  # without the volume: the other slices
    write_h5(tmp_path / "ACDC2" / "data" / "slices" / "patient003_frame02_slice_3.h5",
             image=np.zeros((8, 5), np.float32), label=np.zeros((8, 5), np.uint8))
    message = fails(tmp_path, entry(tmp_path / "ACDC2"), DataError, r"slice_3\.h5 is 8 x 5")
    assert "patient003_frame02_slice_1.h5 are 8 x 6" in message


@h5py_missing
def test_slice_that_differs_from_its_volume(tmp_path: Path) -> None:
    cases = write_ssl4mis(tmp_path / "ACDC")
    image, label = cases["patient004_frame01"]
    write_h5(tmp_path / "ACDC" / "data" / "slices" / "patient004_frame01_slice_3.h5",
             image=image[2], label=(label[2] + 1) % 4)
    fails(tmp_path, entry(tmp_path / "ACDC"), DataError,
          r"patient004_frame01_slice_3\.h5 differs from slice 2 of .*patient004_frame01\.h5")


@h5py_missing
@pytest.mark.parametrize("where", ["slice", "volume"])
def test_labels_outside_0_to_3(tmp_path: Path, where: str) -> None:
    cases = write_ssl4mis(tmp_path / "ACDC", train_volumes=False)
    image, label = cases["patient001_frame02"]
    label = label.copy()
    label[1, 2, 2] = 4
    if where == "volume":
        path = tmp_path / "ACDC" / "data" / "patient001_frame02.h5"
        write_h5(path, image=image, label=label)
    else:
        path = tmp_path / "ACDC" / "data" / "slices" / "patient003_frame01_slice_2.h5"
        write_h5(path, image=image[1], label=label[1])
    fails(tmp_path, entry(tmp_path / "ACDC"), DataError,
          rf"{path.name}: label values \[4\] outside 0-3 \(background, right ventricle")


@h5py_missing
@pytest.mark.parametrize("missing", ["image", "label"])
def test_volume_without_image_or_label(tmp_path: Path, missing: str) -> None:
    cases = write_ssl4mis(tmp_path / "ACDC")
    image, label = cases["patient002_frame01"]
    kept = {"image": image, "label": label, "scribble": label}
    del kept[missing]
    write_h5(tmp_path / "ACDC" / "data" / "patient002_frame01.h5", **kept)
    fails(tmp_path, entry(tmp_path / "ACDC"), DataError,
          rf"patient002_frame01\.h5 has no '{missing}' dataset \(it holds .*'scribble'")


@h5py_missing
def test_stratified_split_needs_info_cfg(tmp_path: Path) -> None:
    write_ssl4mis(tmp_path / "ACDC")
    fails(tmp_path, entry(tmp_path / "ACDC", split="stratified"), DataError,
          r"`split: stratified` needs each patient's Group from Info\.cfg")


def test_without_h5py_the_message_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ACDC").mkdir()
    (tmp_path / "ACDC" / "train_slices.list").write_text("patient003_frame01_slice_1\n")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    message = fails(tmp_path, entry(tmp_path / "ACDC"), DataError, "needs the optional package h5py")
    assert "pip install -e '.[h5]'" in message and "acdc `format: ssl4mis`" in message


# --------------------------------------------------------------------------- the real sample


def sample_files(root: Path) -> dict[str, Path]:
    return {p.stem: p for p in root.rglob("*.h5")}


def read_h5(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        return f["image"][()], f["label"][()]


def check_against_files(out: Path, root: Path) -> None:
    """Training volumes equal their slice files in slice order, val/test volumes their files,
    labels in 0..3, and the split is the lists'."""
    info = read_dataset_info(out)
    files = sample_files(root)
    lists = {s: sorted((root / f"{s}.list").read_text().split()) for s in ("val", "test")}
    slices = (root / "train_slices.list").read_text().split()
    assert info.splits["val"] == lists["val"] and info.splits["test"] == lists["test"]
    assert info.splits["train"] == sorted({s.rsplit("_slice_", 1)[0] for s in slices})
    for case in info.splits["train"]:
        image, label = load_case(out, case)
        numbers = sorted(int(s.rsplit("_", 1)[1]) for s in slices if s.startswith(case + "_"))
        assert label.shape[0] == len(numbers)
        for z, k in enumerate(numbers):
            slice_image, slice_label = read_h5(files[f"{case}_slice_{k}"])
            np.testing.assert_array_equal(image[0, z], slice_image)
            np.testing.assert_array_equal(label[z], slice_label)
    for case in info.splits["val"] + info.splits["test"]:
        image, label = load_case(out, case)
        volume_image, volume_label = read_h5(files[case])
        np.testing.assert_array_equal(image[0], volume_image)
        np.testing.assert_array_equal(label, volume_label)
    assert all(set(np.unique(load_case(out, c)[1]).tolist()) <= {0, 1, 2, 3} for c in info.cases)


@h5py_missing
def test_real_sample(tmp_path: Path) -> None:
    root = shared_data("acdc_ssl4mis_sample")
    out = run(tmp_path, entry(root))
    check_against_files(out, root)
    info = read_dataset_info(out)
    assert info.splits["test"] == ["patient001_frame01", "patient001_frame02",
                                   "patient007_frame01", "patient007_frame02"]
    assert load_case(out, "patient003_frame01")[1].shape == (10, 256, 256)
    assert json.loads((out / "dataset.json").read_text())["spacing"]["patient001_frame01"] == [1.0, 1.0, 1.0]


@h5py_missing
def test_real_sample_in_one_flat_folder(tmp_path: Path) -> None:
    root = shared_data("acdc_ssl4mis_sample")
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in [*root.glob("*.list"), *root.rglob("*.h5")]:
        shutil.copy(path, flat / path.name)
    out = run(tmp_path, entry(flat))
    check_against_files(out, flat)
    assert read_dataset_info(out).splits == read_dataset_info(run(tmp_path / "nested", entry(root))).splits
