"""Case-level train / val / test splits: random fractions from a seed, or explicit lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from morse.data.errors import DataError
from morse.data.prepared.format import SPLIT_NAMES

__all__ = [
    "SPLIT_DEFAULTS",
    "check_explicit_splits",
    "entry_splits",
    "require_train_and_test",
    "split_cases",
]

# Defaults of the generic kinds (msd, nnunet, images2d); recipes of fixed benchmarks keep theirs.
SPLIT_DEFAULTS: dict[str, Any] = {"test_fraction": 0.2, "val_fraction": 0.0, "seed": 0}


def split_cases(
    cases: list[str],
    *,
    test_fraction: float = 0.25,
    val_fraction: float = 0.0,
    split_seed: int = 0,
) -> dict[str, list[str]]:
    """Random case-level split, deterministic from ``split_seed`` (each split sorted by name)."""
    if not (0.0 <= test_fraction < 1.0 and 0.0 <= val_fraction < 1.0):
        raise ValueError(f"fractions must be in [0, 1): test {test_fraction}, val {val_fraction}")
    ordered = sorted(cases)
    perm = np.random.default_rng(split_seed).permutation(len(ordered))
    n_test = int(round(test_fraction * len(ordered)))
    if test_fraction > 0:
        n_test = max(1, n_test)
    n_val = int(round(val_fraction * len(ordered)))
    if val_fraction > 0:
        n_val = max(1, n_val)
    shuffled = [ordered[i] for i in perm]
    test, val, train = (
        shuffled[:n_test],
        shuffled[n_test : n_test + n_val],
        shuffled[n_test + n_val :],
    )
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def check_explicit_splits(
    splits: Mapping[str, Sequence[str]], available: Sequence[str], where: object
) -> dict[str, list[str]]:
    """Validate explicit split lists: known split names, every case present in ``available``,
    no case in two splits. Returns all three splits (missing ones empty)."""
    unknown_splits = set(splits) - set(SPLIT_NAMES)
    if unknown_splits:
        raise DataError(f"unknown split names {sorted(unknown_splits)}; use {list(SPLIT_NAMES)}")
    out = {s: [str(c) for c in splits.get(s, [])] for s in SPLIT_NAMES}
    known = set(available)
    seen: dict[str, str] = {}
    for split, cases in out.items():
        missing = [c for c in cases if c not in known]
        if missing:
            raise DataError(
                f"split {split!r} names cases not found in {where}: {missing}; restore them or "
                f"remove them from `split.{split}` in the config"
            )
        for case in cases:
            if case in seen:
                raise DataError(
                    f"case {case!r} is listed in both the {seen[case]!r} and the {split!r} split; "
                    f"remove it from one of `split.{seen[case]}` / `split.{split}` in the config"
                )
            seen[case] = split
    return out


def entry_splits(
    entry: Mapping[str, Any],
    available: Sequence[str],
    where: object,
    defaults: Mapping[str, Any] = SPLIT_DEFAULTS,
) -> dict[str, list[str]]:
    """The splits of a dataset config entry: its explicit ``split.train/val/test`` lists if any
    (cases not listed are left out), else a random split with its fractions and ``seed``."""
    split = dict(entry.get("split") or {})
    if any(k in split for k in SPLIT_NAMES):
        return check_explicit_splits({k: split[k] for k in SPLIT_NAMES if k in split}, available, where)
    params = {**defaults, **split}
    return split_cases(
        list(available),
        test_fraction=params["test_fraction"],
        val_fraction=params["val_fraction"],
        split_seed=params["seed"],
    )


def require_train_and_test(splits: Mapping[str, Sequence[str]], where: object, n_cases: int) -> None:
    """An empty test or train split is an error (nothing to evaluate / to learn from)."""
    if not splits.get("test"):
        raise DataError(
            f"empty test split for {where} ({n_cases} cases); set `split.test_fraction` > 0 or "
            f"list test cases under `split.test`"
        )
    if not splits.get("train"):
        raise DataError(
            f"empty train split for {where} ({n_cases} cases); list train cases under "
            f"`split.train` or lower the fractions"
        )
