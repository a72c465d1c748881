"""ACDC as SSL4MIS distributes it, the layout the MORSE authors' 2D code reads.

``<root>/train_slices.list``, ``val.list``, ``test.list`` (``train.list`` is not read: the
authors' training reads the slice list), one case per line; ``<root>/data/slices/<case>_slice_<k>.h5``
(one 2D slice: ``image`` float32 (H, W), ``label`` uint8 (H, W)) and ``<root>/data/<case>.h5``
(one volume: ``image`` float32 (Z, H, W), min-max normalised per volume, ``label`` (Z, H, W)).
The files may also sit in one flat folder with the lists. Case ids are ``patientXXX_frameYY``.

A case listed in ``train_slices.list`` is read from its slice files, stacked in slice order into
a volume (the prepared format stores volumes; the 2D training loader then samples exactly these
slices); where its volume file exists as well, the slices must equal its slices. Any other case
is read from its volume file. Labels must lie in 0..3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from morse.data.errors import DataError, MissingDataError
from morse.data.readers.h5 import read_image_label

__all__ = ["LISTS", "Listing", "find_root", "read_case", "read_listing"]

LISTS = {"train": "train_slices.list", "val": "val.list", "test": "test.list"}
NUM_CLASSES = 4
WHAT = "SSL4MIS's ACDC"
_VOLUME = re.compile(r"^patient\d{3}_frame\d{2}$")
_SLICE = re.compile(r"^(patient\d{3}_frame\d{2})_slice_(\d+)$")


def find_root(path: Path) -> Path | None:
    """The folder holding ``train_slices.list`` (``path`` itself or a folder below it, e.g.
    ``ACDC/``), or ``None``."""
    for candidate in (path, *sorted(p for p in path.glob("*") if p.is_dir()),
                      *sorted(p for p in path.glob("*/*") if p.is_dir())):
        if (candidate / LISTS["train"]).is_file():
            return candidate
    return None


@dataclass
class Listing:
    """The lists of one SSL4MIS folder and where each listed case's files are."""

    root: Path
    lists: dict[str, list[str]] = field(default_factory=dict)  # split -> cases, sorted
    slices: dict[str, list[tuple[int, Path]]] = field(default_factory=dict)  # case -> (k, file)

    def volume_file(self, case: str) -> Path | None:
        """``data/<case>.h5`` (or ``<case>.h5`` in a flat folder), if present."""
        return _first_file([self.root / "data" / f"{case}.h5", self.root / f"{case}.h5"])

    def slice_file(self, entry: str) -> Path | None:
        """The file of a ``train_slices.list`` entry, if present."""
        return _first_file([self.root / "data" / "slices" / f"{entry}.h5", self.root / "slices" / f"{entry}.h5",
                            self.root / "data" / f"{entry}.h5", self.root / f"{entry}.h5"])

    @property
    def cases(self) -> list[str]:
        """Every case with slice files or a volume file, sorted."""
        found = set(self.slices)
        for folder in (self.root / "data", self.root):
            found.update(p.stem for p in folder.glob("patient*_frame*.h5") if _VOLUME.match(p.stem))
        return sorted(found)


def _first_file(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _read_list(path: Path, pattern: re.Pattern[str]) -> list[str]:
    entries = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        entry = line.strip()
        if not entry:
            continue
        if not pattern.match(entry):
            raise DataError(
                f"{path}, line {number}: {entry!r} is not an SSL4MIS ACDC case (expected e.g. "
                f"{'patient003_frame01_slice_4' if pattern is _SLICE else 'patient001_frame01'}); "
                f"fix the list"
            )
        entries.append(entry)
    return list(dict.fromkeys(entries))


def read_listing(root: Path) -> Listing:
    """Read the lists under ``root`` and check that every entry has its file (a
    :class:`MissingDataError` naming the list, the entry and where its file was looked for)."""
    listing = Listing(root)
    train_list = root / LISTS["train"]
    for entry in _read_list(train_list, _SLICE):
        path = listing.slice_file(entry)
        if path is None:
            raise MissingDataError(
                f"{train_list} lists {entry} but its file is missing: expected "
                f"{root / 'data' / 'slices' / (entry + '.h5')} (or {entry}.h5 in {root}); restore "
                f"it or remove the line"
            )
        m = _SLICE.match(entry)
        listing.slices.setdefault(m.group(1), []).append((int(m.group(2)), path))  # type: ignore[union-attr]
    listing.lists["train"] = sorted(listing.slices)
    for split in ("val", "test"):
        path = root / LISTS[split]
        if not path.is_file():
            if split == "test":
                raise MissingDataError(f"{WHAT}: {path} is missing; it names the test cases")
            listing.lists[split] = []
            continue
        listing.lists[split] = sorted(_read_list(path, _VOLUME))
        for case in listing.lists[split]:
            if listing.volume_file(case) is None:
                raise MissingDataError(
                    f"{path} lists {case} but its file is missing: expected "
                    f"{root / 'data' / (case + '.h5')} (or {case}.h5 in {root}); restore it or "
                    f"remove the line"
                )
    seen: dict[str, str] = {}
    for split, cases in listing.lists.items():
        for case in cases:
            if case in seen:
                raise DataError(
                    f"{WHAT}: {case} is in both {LISTS[seen[case]]} and {LISTS[split]} under "
                    f"{root}; a case belongs to one split: fix the lists"
                )
            seen[case] = split
    return listing


def _check_pair(image: np.ndarray, label: np.ndarray, path: Path, ndim: int) -> np.ndarray:
    """Shapes, finite intensities and labels in 0..3; returns the label as uint8."""
    if image.ndim != ndim or image.shape != label.shape:
        raise DataError(
            f"{path} has image {image.shape} and label {label.shape}; expected matching "
            f"{'(H, W) slices' if ndim == 2 else '(Z, H, W) volumes'}: replace the file"
        )
    if not np.all(np.isfinite(image)):
        raise DataError(f"{path}: image contains NaN or infinite values; replace the file")
    bad = [v for v in np.unique(label).tolist() if v != round(v) or not 0 <= v < NUM_CLASSES]
    if bad:
        raise DataError(
            f"{path}: label values {bad[:10]} outside 0-3 (background, right ventricle, "
            f"myocardium, left ventricle); the file is corrupt or not ACDC: replace it"
        )
    return label.astype(np.uint8)


def _from_slices(case: str, files: list[tuple[int, Path]], volume: Path | None) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(files)
    numbers = [k for k, _ in files]
    gaps = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if gaps:
        raise MissingDataError(
            f"{case}: {LISTS['train']} lists slices {numbers[0]}-{numbers[-1]} without "
            f"{', '.join(f'{case}_slice_{k}' for k in gaps[:5])}; restore them in the list and the "
            f"folder (a volume is stacked from all its slices)"
        )
    reference = read_image_label(volume, WHAT) if volume is not None else None
    if reference is not None:
        _check_pair(*reference, volume, 3)  # type: ignore[arg-type]
        if reference[0].shape[0] != len(files):
            raise DataError(
                f"{case}: {volume} has {reference[0].shape[0]} slices but {LISTS['train']} lists "
                f"{len(files)}; the slice files and the volume differ: fix the list or the files"
            )
    images, labels = [], []
    for i, (_, path) in enumerate(files):
        image, label = read_image_label(path, WHAT)
        label = _check_pair(image, label, path, 2)
        expected = reference[0].shape[1:] if reference is not None else (images[0].shape if images else image.shape)
        if image.shape != expected:
            source = volume if reference is not None else files[0][1]
            raise DataError(
                f"{path} is {image.shape[0]} x {image.shape[1]} but the slices of {case} in "
                f"{source} are {expected[0]} x {expected[1]}; the file belongs to another case or "
                f"was resized: replace it"
            )
        if reference is not None and not (np.array_equal(label, reference[1][i])
                                          and np.allclose(image, reference[0][i], atol=1e-5)):
            raise DataError(
                f"{path} differs from slice {i} of {volume}; training reads the slice files, so "
                f"they must equal the volume's slices: regenerate one of them"
            )
        images.append(image)
        labels.append(label)
    return np.stack(images).astype(np.float32), np.stack(labels)


def read_case(listing: Listing, case: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One case as image float32 (Z, H, W) and label uint8 (Z, H, W): from its slice files if
    ``train_slices.list`` lists them, else from its volume file."""
    volume = listing.volume_file(case)
    if case in listing.slices:
        return _from_slices(case, listing.slices[case], volume)
    if volume is None:
        raise MissingDataError(
            f"{WHAT}: case {case} of the {split!r} split has neither slices in {LISTS['train']} "
            f"nor a volume {listing.root / 'data' / (case + '.h5')}; restore it or remove it from "
            f"`split`"
        )
    image, label = read_image_label(volume, WHAT)
    return image.astype(np.float32), _check_pair(image, label, volume, 3)
