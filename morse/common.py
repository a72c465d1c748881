"""Helpers every layer uses (the bottom of the import graph; imports nothing from ``morse``).

Atomic writes: produce an output under a temporary sibling name, rename it when complete.
Every step of the workflow writes its outputs through :func:`atomic_path`, so an interrupted
run never leaves a half-written file or directory under the final name (Snakemake and the
``prepare`` step can then trust that an existing path is complete).

Machines: which run records come from machines that take the same floating-point kernel paths
(:func:`machine_signature` of what :func:`morse.engine.provenance.machine_info` records), so that
their numbers can agree bit for bit; the report groups its runs with :func:`machine_groups`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "MACHINE_KEYS",
    "atomic_path",
    "different_machines",
    "machine_groups",
    "machine_signature",
    "remove_path",
    "remove_stale_temporaries",
    "stale_temporaries",
]


def remove_path(path: Path) -> None:
    """Remove a file, a symlink or a directory tree; do nothing if ``path`` does not exist."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _temp_sibling(path: Path, tag: str) -> Path:
    # The full final name is kept as the *suffix* so that writers which pick a format or append
    # an extension from the name (np.save -> ".npy", nibabel -> ".nii.gz") behave as for `path`.
    return path.with_name(f".{tag}-{uuid.uuid4().hex[:12]}-{path.name}")


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """The temporary siblings :func:`atomic_path` made for exactly ``path`` (``.tmp-<hex>-<name>``,
    ``.old-<hex>-<name>``) and left behind when its process was killed; never another path's."""
    path = Path(path)
    own = re.compile(rf"^\.(tmp|old)-[0-9a-f]{{12}}-{re.escape(path.name)}$")
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if own.match(p.name))


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove :func:`stale_temporaries` of ``path`` (call it when the step writing ``path`` starts
    again; only one process writes a path at a time). Returns what was removed."""
    stale = stale_temporaries(path)
    for leftover in stale:
        remove_path(leftover)
    return stale


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it onto ``path`` when the block succeeds.

    The caller creates a file *or* a directory at the yielded path. On success it replaces
    ``path`` (an existing file or directory of that name is replaced as a whole). If the block
    raises, the temporary file or directory is removed and ``path`` is left untouched.
    The parent directory is created if needed.

    >>> with atomic_path(out / "table.csv") as tmp:
    ...     frame.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path, "tmp")
    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise FileNotFoundError(f"atomic_path: nothing was written to the temporary path {tmp}")
        if tmp.is_dir() and not tmp.is_symlink() and path.is_dir() and not path.is_symlink():
            # os.replace cannot overwrite a non-empty directory: move the old one aside first.
            old = _temp_sibling(path, "old")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            remove_path(old)
        else:
            if path.is_dir() and not path.is_symlink():
                remove_path(path)
            os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise


#: The :func:`~morse.engine.provenance.machine_info` entries that decide a CPU run's kernel paths.
MACHINE_KEYS = ("cpu_model", "cpu_capability", "blas", "torch")


def machine_signature(run: dict) -> tuple[str, ...]:
    """The part of a run record that decides its CPU kernel paths (and so its exact bits): CPU
    model, vector instruction set, BLAS and torch version, plus the device; ``unknown`` where a
    run.json predates these records."""
    machine = run.get("machine") or {}
    return (*(str(machine.get(key, "unknown")) for key in MACHINE_KEYS), str(run.get("device", "unknown")))


def machine_groups(runs: list[dict]) -> dict[tuple[str, ...], list[str]]:
    """Run records grouped by :func:`machine_signature` (values: ``dataset/backbone/variant/seedN``)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for run in runs:
        name = "/".join(str(run.get(k, "?")) for k in ("dataset", "backbone", "variant")) + f"/seed{run.get('seed', '?')}"
        groups.setdefault(machine_signature(run), []).append(name)
    return groups


def different_machines(runs: list[dict]) -> bool:
    """Whether the runs come from machines that may take different kernel paths (then numbers
    agree between those machines only to a tolerance, not bit for bit)."""
    return len(machine_groups(runs)) > 1
