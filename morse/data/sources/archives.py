"""Safe, atomic extraction of downloaded archives, and :func:`fetch_archive` (download + extract).

* :func:`extract_archive` checks *every* member of a tar or zip archive before extracting anything
  (absolute paths, ``..`` components, links pointing outside the target, device files are
  rejected) and extracts into a temporary sibling directory that is renamed when complete, so a
  directory under the final name is always complete.
* :func:`fetch_archive` downloads into a cache directory (:mod:`morse.data.sources.download`)
  and extracts into ``data/raw/<dataset>``.

Every failure raises :class:`~morse.data.sources.download.DownloadError` (or
:class:`UnsafeArchiveError`) with one message naming the file and saying what to do.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from morse.common import atomic_path
from morse.data.sources.download import DownloadError, default_cache_dir, download_file

__all__ = ["UnsafeArchiveError", "extract_archive", "fetch_archive"]


class UnsafeArchiveError(DownloadError):
    """An archive holds members that would land outside the extraction directory."""


def _check_member_path(name: str, archive: Path) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(
            f"unsafe archive {archive}: member {name!r} has an absolute path; nothing was "
            f"extracted. Delete the archive and check its source."
        )
    if ".." in p.parts:
        raise UnsafeArchiveError(
            f"unsafe archive {archive}: member {name!r} points outside the target directory "
            f"('..'); nothing was extracted. Delete the archive and check its source."
        )
    return p


def _inside(base: PurePosixPath, target: str) -> bool:
    """Whether a link at directory ``base`` (relative) pointing to ``target`` stays inside."""
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        return False
    depth = 0
    for part in (*base.parts, *PurePosixPath(target).parts):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def _check_tar(archive: Path, tf: tarfile.TarFile) -> None:
    for m in tf.getmembers():
        p = _check_member_path(m.name, archive)
        if m.issym() or m.islnk():
            base = p.parent if m.issym() else PurePosixPath(".")
            if not _inside(base, m.linkname):
                kind = "symlink" if m.issym() else "hard link"
                raise UnsafeArchiveError(
                    f"unsafe archive {archive}: {kind} {m.name!r} -> {m.linkname!r} points "
                    f"outside the target directory; nothing was extracted. Delete the archive "
                    f"and check its source."
                )
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(
                f"unsafe archive {archive}: member {m.name!r} is a device file or FIFO; nothing "
                f"was extracted. Delete the archive and check its source."
            )


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        _check_member_path(info.filename, archive)
        ftype = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip carries no Unix mode
        if ftype not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(
                f"unsafe archive {archive}: member {info.filename!r} is a link or special file; "
                f"nothing was extracted. Delete the archive and check its source."
            )


def extract_archive(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Extract a tar (any compression) or zip archive to ``target``, safely and atomically.

    All members are checked before anything is written; extraction goes to a temporary sibling
    of ``target`` that replaces ``target`` only when complete.
    """
    archive, target = Path(archive), Path(target)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _check_zip(archive, zf)
                with atomic_path(target) as tmp:
                    tmp.mkdir(parents=True)
                    for info in tqdm(zf.infolist(), desc=f"extract {archive.name}",
                                     unit="file", leave=False, disable=None):
                        zf.extract(info, tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _check_tar(archive, tf)
                with atomic_path(target) as tmp:
                    tmp.mkdir(parents=True)
                    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                    for m in tqdm(tf.getmembers(), desc=f"extract {archive.name}",
                                  unit="file", leave=False, disable=None):
                        tf.extract(m, tmp, **kwargs)
        else:
            raise DownloadError(
                f"{archive} is neither a tar nor a zip archive (truncated or an HTML error "
                f"page?). Delete it and run the fetch step again."
            )
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DownloadError(
            f"cannot extract {archive} (corrupt or truncated archive: {e}). Delete it and run "
            f"the fetch step again."
        ) from e
    return target


def fetch_archive(
    url: str,
    raw_dir: str | os.PathLike[str],
    *,
    filename: str,
    checksum: str | None,
    cache_dir: str | os.PathLike[str] | None = None,
    retries: int = 5,
) -> Path:
    """Download ``url`` into the cache (as ``filename``) and extract it to ``raw_dir``."""
    raw_dir = Path(raw_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(raw_dir)
    archive = download_file(url, cache / filename, checksum=checksum, retries=retries)
    return extract_archive(archive, raw_dir)
