"""Fingerprints of data folders: notice an edited, added, removed or replaced file without
reading the data.

A fingerprint is the SHA-256 of the sorted list of (relative path, size in bytes, modification
time in nanoseconds) of every file under a folder (symbolic links followed). It costs one
``stat`` per file, not a read of the data; a change that keeps the size and the modification time
(a copy with ``cp -p`` of other content, a clock set back) goes unnoticed. The ``prepare`` rule
takes the fingerprint of a ``source: local`` dataset's folder as a parameter, so Snakemake
re-prepares exactly that dataset (and retrains what used it) when a file there changes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = ["EMPTY", "MISSING", "dataset_record", "folder_fingerprint", "local_dataset_fingerprint"]

MISSING = "missing"  # the fingerprint of a folder that does not exist (fetch then says why)
EMPTY = "empty"  # the fingerprint of a folder without files (an empty mount point)


def _entries(root: Path) -> list[tuple[str, int, int]]:
    entries = []
    for folder, _, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(folder, name)
            try:
                stat = path.stat()
            except OSError:  # a dangling link: counts as a file without content
                entries.append((str(path.relative_to(root)), -1, -1))
                continue
            entries.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return sorted(entries)


def folder_fingerprint(root: str | os.PathLike[str]) -> str:
    """SHA-256 (hex, 16 characters) of the files' relative paths, sizes and mtimes under
    ``root``; :data:`MISSING` if ``root`` is not a folder, :data:`EMPTY` if it holds no file."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return MISSING
    entries = _entries(root)
    if not entries:
        return EMPTY
    digest = hashlib.sha256()
    for relative, size, mtime in entries:
        digest.update(f"{relative}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()[:16]


def local_dataset_fingerprint(entry: dict[str, Any]) -> str:
    """The fingerprint of a ``source: local`` dataset entry's ``path``; ``""`` for other sources
    (downloads are verified by checksum, phantoms are a function of their settings)."""
    if entry.get("source", "download") != "local" or not entry.get("path"):
        return ""
    return folder_fingerprint(entry["path"])


def dataset_record(info: Any, root: str | os.PathLike[str]) -> dict[str, Any]:
    """What a run records about the prepared dataset it trained on (run.json ``data``): its
    name, class names, folder fingerprint and what prepare did (``preparation``); ``evaluate``
    refuses any other dataset."""
    return {"name": info.name, "class_names": list(info.class_names), "fingerprint": folder_fingerprint(root),
            "preparation": dict(getattr(info, "preparation", None) or {})}  # shown by the report


def dataset_mismatch(recorded: dict[str, Any] | None, info: Any, root: str | os.PathLike[str]) -> str | None:
    """Why the prepared dataset at ``root`` is not the one a run ``recorded`` (None if it is)."""
    if not recorded:
        return None  # a run folder written before runs recorded their data
    current = dataset_record(info, root)
    different = [key for key in ("name", "class_names", "fingerprint") if recorded.get(key) != current[key]]
    if not different:
        return None
    described = "; ".join(f"{key} {recorded.get(key)!r} at training, {current[key]!r} now" for key in different)
    return described
