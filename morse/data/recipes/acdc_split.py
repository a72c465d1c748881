"""ACDC's patient splits: the authors' (the default) and this project's stratified one.

The MORSE authors' 2D code builds on SSL4MIS and takes its split from SSL4MIS's ``test.list``
and ``val.list`` (both annotated frames of each patient): :data:`AUTHORS_TEST` and
:data:`AUTHORS_VAL` below, training the other 70 patients. This module is a helper of the
``acdc`` recipe and registers no kind.

``split`` of an ``acdc`` entry:

* absent, ``authors`` or ``{strategy: authors}``: the authors' split (with ``format: ssl4mis``
  the lists in the folder, which are the authors' split when they are SSL4MIS's);
* ``stratified`` or ``{strategy: stratified, test_fraction, val_fraction, seed}``: patients
  stratified by their ``Group`` in ``Info.cfg`` (:func:`stratified_split`);
* ``{train: [...], val: [...], test: [...]}``: these patients (or cases), nothing else;
* fractions or ``seed`` without ``strategy`` ask for a random split, so the stratified one is
  used and the prepare log says so (the authors' split has no fractions).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from morse.data.errors import DataError, MissingDataError
from morse.data.prepared.format import SPLIT_NAMES
from morse.data.readers.ssl4mis import LISTS, WHAT, Listing

__all__ = [
    "AUTHORS_TEST",
    "AUTHORS_VAL",
    "STRATIFIED_DEFAULTS",
    "authors_split",
    "split_request",
    "ssl4mis_splits",
    "stratified_split",
]

log = logging.getLogger(__name__)

# SSL4MIS data/ACDC/test.list and val.list (HiLab-git/SSL4MIS), as patient numbers.
AUTHORS_TEST = tuple(f"patient{n}" for n in [
    "001", "007", "008", "011", "013", "022", "024", "033", "052", "059",
    "064", "065", "066", "068", "075", "080", "081", "083", "084", "093",
])
AUTHORS_VAL = tuple(f"patient{n}" for n in [
    "002", "019", "028", "030", "039", "045", "078", "082", "085", "087",
])
STRATIFIED_DEFAULTS = {"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0}
STRATEGIES = ("authors", "stratified")
_RANDOM_KEYS = ("test_fraction", "val_fraction", "seed")


def authors_split() -> dict[str, list[str]]:
    """The authors' patients per split (ACDC training patients 001-100)."""
    held_out = set(AUTHORS_TEST) | set(AUTHORS_VAL)
    train = [f"patient{i:03d}" for i in range(1, 101) if f"patient{i:03d}" not in held_out]
    return {"train": train, "val": sorted(AUTHORS_VAL), "test": sorted(AUTHORS_TEST)}


def stratified_split(
    groups: dict[str, str], *, test_fraction: float, val_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Patients -> train/val/test, stratified by group: within each group (groups in sorted
    order) the sorted patients are permuted with ``numpy.random.default_rng(seed)``; each gets
    the key (rank + 0.5) / group size; sorted by (key, group, id), the first ``test_fraction``
    go to test, the next ``val_fraction`` to val, the rest to train."""
    rng = np.random.default_rng(seed)
    keyed = []
    for group in sorted(set(groups.values())):
        members = sorted(p for p, g in groups.items() if g == group)
        for rank, i in enumerate(rng.permutation(len(members))):
            keyed.append(((rank + 0.5) / len(members), group, members[i]))
    order = [p for _, _, p in sorted(keyed)]
    n_test = max(1, round(test_fraction * len(order))) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * len(order))) if val_fraction > 0 else 0
    return {
        "test": sorted(order[:n_test]),
        "val": sorted(order[n_test:n_test + n_val]),
        "train": sorted(order[n_test + n_val:]),
    }


def split_request(split: Any) -> tuple[str, dict[str, Any]]:
    """An ``acdc`` entry's ``split`` -> (``"authors"`` | ``"stratified"`` | ``"lists"``,
    parameters: the stratified fractions and seed, or the lists). Logs which one wins when the
    config's keys and the authors' default meet."""
    if split is None or split == {}:
        return "authors", {}
    if isinstance(split, str):
        split = {"strategy": split}
    if not isinstance(split, dict):
        raise DataError(f"acdc: `split` must be one of {list(STRATEGIES)} or a mapping, got {split!r}")
    strategy = split.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise DataError(f"acdc: unknown `split.strategy` {strategy!r}; use one of {list(STRATEGIES)}")
    lists = {k: split[k] for k in SPLIT_NAMES if k in split}
    random_keys = [k for k in _RANDOM_KEYS if k in split]
    if lists:
        if strategy or random_keys:
            raise DataError(
                f"acdc: `split` has both lists ({', '.join(lists)}) and "
                f"{'`strategy`' if strategy else ', '.join(random_keys)}; give the lists alone, or "
                f"remove them to use a strategy"
            )
        log.warning("acdc: the config's `split` lists win over the authors' split (the default)")
        return "lists", lists
    if strategy == "authors":
        if random_keys:
            raise DataError(
                f"acdc: `split.strategy: authors` is a fixed split and takes no {random_keys}; "
                f"remove them, or write `strategy: stratified` to use them"
            )
        return "authors", {}
    if strategy is None:
        log.warning(
            "acdc: `split` gives %s without `strategy`, so the stratified split wins over the "
            "authors' split (the default); write `split: {strategy: stratified, ...}` to say so, "
            "or remove them for the authors' split", ", ".join(random_keys),
        )
    return "stratified", {**STRATIFIED_DEFAULTS, **{k: split[k] for k in random_keys}}


def _explicit(listing: Listing, lists: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Config lists of patient ids (both frames) or case ids -> cases; missing ones named."""
    available = listing.cases
    out: dict[str, list[str]] = {}
    for split in SPLIT_NAMES:
        cases: list[str] = []
        for item in lists.get(split, []):
            item = str(item)
            found = [c for c in available if c == item or c.split("_")[0] == item]
            if not found:
                raise MissingDataError(
                    f"acdc: {item} of `split.{split}` has no slices in {LISTS['train']} and no "
                    f"volume under {listing.root}; restore it or remove it from `split.{split}`"
                )
            cases.extend(found)
        out[split] = list(dict.fromkeys(cases))
    return out


def _describe_lists(splits: dict[str, list[str]]) -> str:
    """Whether the folder's lists are the authors' split (by patient)."""
    authors = authors_split()
    counts = " / ".join(f"{len(splits[s])}" for s in SPLIT_NAMES)
    off = sorted({c.split("_")[0] for s in SPLIT_NAMES for c in splits[s]
                  if c.split("_")[0] not in authors[s]})
    if off:
        return (f"the folder's lists ({counts} train / val / test cases); not the authors' split: "
                f"{', '.join(off[:5])} sit in another split there")
    return f"the folder's lists ({counts} train / val / test cases), a subset of the authors' split"


def ssl4mis_splits(split: Any, listing: Listing) -> tuple[dict[str, list[str]], str]:
    """The cases per split of an SSL4MIS folder and a sentence saying where they came from: the
    folder's lists by default, the config's lists when given; stratified is an error."""
    strategy, params = split_request(split)
    if strategy == "stratified":
        raise DataError(
            f"acdc: `split: stratified` needs each patient's Group from Info.cfg, which {WHAT} "
            f"h5 files do not carry; remove `split` for the folder's lists (the authors' split), "
            f"list the cases under `split`, or use `format: nifti`"
        )
    if strategy == "lists":
        return _explicit(listing, params), "the config's `split` lists"
    splits = {s: list(listing.lists[s]) for s in SPLIT_NAMES}
    return splits, _describe_lists(splits)
