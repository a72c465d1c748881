"""``source: local`` datasets: an existing directory is read in place instead of downloaded.

The fetch step of a local source writes only a marker (:data:`LOCAL_MARKER`) naming the
directory; the prepare step reads the data from there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from morse.common import atomic_path
from morse.data.sources.download import DownloadError

__all__ = ["LOCAL_MARKER", "is_local", "local_only_dir", "local_source_dir", "record_local_source"]

LOCAL_MARKER = "LOCAL_SOURCE.json"


def local_source_dir(name: str, entry: dict, what: str) -> Path:
    """The directory of a ``source: local`` dataset entry; a clear error if unusable."""
    path = entry.get("path")
    if not path:
        raise DownloadError(
            f"dataset {name!r}: `source: local` needs `path`, the directory holding {what}"
        )
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DownloadError(
            f"dataset {name!r}: local data directory {root} does not exist (expected {what}); "
            f"fix `path` in the dataset config"
        )
    return root.resolve()


def record_local_source(raw_dir: Path, root: Path, fmt: str) -> None:
    """Fetch step of a local source: ``raw_dir`` holds only a marker naming the real directory
    (nothing is copied); the prepare step reads the data from there."""
    with atomic_path(raw_dir) as tmp:
        tmp.mkdir(parents=True)
        (tmp / LOCAL_MARKER).write_text(
            json.dumps({"source": "local", "path": str(root), "format": fmt}, indent=2) + "\n"
        )


def is_local(entry: dict) -> bool:
    """Whether a dataset entry reads an existing local directory instead of downloading."""
    return entry.get("source", "download") == "local"


def local_only_dir(name: str, entry: dict[str, Any], what: str) -> Path:
    """The ``path`` of a kind that reads local folders only; a clear error otherwise."""
    if not is_local(entry):
        raise DownloadError(
            f"dataset {name!r}: kind {entry.get('kind')} reads local folders only; set "
            f"`source: local` and `path` to {what}"
        )
    return local_source_dir(name, entry, what)
