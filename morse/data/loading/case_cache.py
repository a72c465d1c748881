"""Prepared cases for the training datasets: memory-mapped arrays, label range checked once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from morse.data.errors import DataError
from morse.data.prepared.format import load_case

__all__ = ["CaseArrayCache", "check_label_range"]


def check_label_range(label: np.ndarray, num_classes: int | None, case: str, root: Path) -> None:
    """Raise :class:`DataError` naming ``case`` if ``label`` has a value outside
    ``[0, num_classes)`` (a prepared dataset edited or corrupted after the prepare step)."""
    if num_classes is None or label.size == 0:
        return
    low, high = int(np.min(label)), int(np.max(label))
    if low < 0 or high >= num_classes:
        raise DataError(
            f"case {case!r} of {root}: label values in [{low}, {high}] fall outside the class map "
            f"[0, {num_classes - 1}] ({num_classes} classes); re-run the prepare step for this dataset"
        )


class CaseArrayCache:
    """Mixin for datasets over prepared cases: memory-mapped arrays opened once per process,
    label range checked once per case. Attributes named in ``_TRANSIENT`` are dropped when the
    dataset is pickled into worker processes (memory maps are reopened there)."""

    _TRANSIENT: tuple[str, ...] = ("_cache",)
    root: Path
    num_classes: int | None
    _cache: dict[str, tuple[np.ndarray, np.ndarray]]
    _checked: set[str]

    def _arrays(self, case: str) -> tuple[np.ndarray, np.ndarray]:
        if case not in self._cache:
            arrays = load_case(self.root, case, mmap=True)
            if case not in self._checked:
                check_label_range(arrays[1], self.num_classes, case, self.root)
                self._checked.add(case)
            self._cache[case] = arrays
        return self._cache[case]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._TRANSIENT:
            state[name] = {}
        return state
