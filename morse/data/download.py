"""The ``fetch`` step's plumbing: resumable HTTP(S) downloads, checksums, safe archive extraction.

* :func:`download_file` downloads to ``<dest>.part`` and resumes it with an HTTP ``Range`` request
  after an interruption (also across runs: the download cache survives failures); the file gets
  its final name only once it is complete and its checksum ("md5:<hex>" or "sha256:<hex>") matches.
* :func:`extract_archive` checks *every* member of a tar or zip archive before extracting anything
  (absolute paths, ``..`` components, links pointing outside the target, device files are
  rejected) and extracts into a temporary sibling directory that is renamed when complete, so a
  directory under the final name is always complete.
* :func:`fetch_archive` combines the two: download into a cache directory, extract into
  ``data/raw/<dataset>``.

Every failure raises :class:`DownloadError` (or :class:`ChecksumError`, :class:`UnsafeArchiveError`)
with one message naming the URL or file and saying what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from morse.common import atomic_path

__all__ = [
    "ChecksumError",
    "DownloadError",
    "UnsafeArchiveError",
    "default_cache_dir",
    "download_file",
    "extract_archive",
    "fetch_archive",
    "file_checksum",
    "parse_checksum",
    "verify_checksum",
]

log = logging.getLogger(__name__)

_ALGORITHMS = ("md5", "sha256")
_CHUNK = 1 << 20
USER_AGENT = "morse-bench (+https://github.com/; reproducibility suite)"


class DownloadError(RuntimeError):
    """A download could not be completed (network, HTTP status, credentials)."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected checksum."""


class UnsafeArchiveError(DownloadError):
    """An archive holds members that would land outside the extraction directory."""


def default_cache_dir(raw_dir: Path) -> Path:
    """Where downloads are kept: ``$MORSE_DOWNLOAD_DIR``, else ``<data>/downloads`` next to
    ``<data>/raw/<dataset>`` (kept after failures so that downloads resume)."""
    env = os.environ.get("MORSE_DOWNLOAD_DIR")
    if env:
        return Path(env)
    return Path(raw_dir).resolve().parent.parent / "downloads"


def parse_checksum(checksum: str) -> tuple[str, str]:
    """``"md5:<hex>"`` / ``"sha256:<hex>"`` -> (algorithm, lower-case hex digest)."""
    algo, sep, digest = str(checksum).partition(":")
    algo, digest = algo.strip().lower(), digest.strip().lower()
    expected_len = {"md5": 32, "sha256": 64}.get(algo)
    if not sep or expected_len is None or not re.fullmatch(rf"[0-9a-f]{{{expected_len}}}", digest):
        raise ValueError(
            f"invalid checksum {checksum!r}: use '<algorithm>:<hex digest>' with algorithm one of "
            f"{list(_ALGORITHMS)}, e.g. 'sha256:{'0' * 64}'"
        )
    return algo, digest


def file_checksum(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file (streamed)."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(path: Path, checksum: str | None, *, label: str | None = None) -> None:
    """Raise :class:`ChecksumError` naming ``path`` if its digest differs from ``checksum``.

    Without a checksum the file's SHA-256 is logged so that it can be pinned in the config.
    """
    path = Path(path)
    if not checksum:
        log.warning(
            "no checksum configured for %s; its sha256 is %s (set `checksum: sha256:<hex>` in "
            "the dataset config to pin it)", label or path, file_checksum(path, "sha256"),
        )
        return
    algo, expected = parse_checksum(checksum)
    actual = file_checksum(path, algo)
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {label or path.name} ({path}): expected {algo}:{expected}, "
            f"got {algo}:{actual}. The download is corrupt or the file changed upstream: delete "
            f"{path} to download it again, or check the mirror / `url` and `checksum` in the "
            f"dataset config."
        )


def _http_error(url: str, e: urllib.error.HTTPError) -> DownloadError:
    if e.code in (401, 403):
        return DownloadError(
            f"access denied (HTTP {e.code} {e.reason}) for {url}: the server requires "
            f"credentials, the terms of use have not been accepted, or the link expired. Download "
            f"the data by hand (see docs/datasets.md) and use `source: local` with `path`, or set "
            f"`url` to a mirror you can access."
        )
    if e.code == 404:
        return DownloadError(
            f"not found (HTTP 404) at {url}: the file has moved. Set `url` in the dataset config "
            f"to a current mirror (see docs/datasets.md), or use `source: local` with `path`."
        )
    return DownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}")


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _total_size(resp, offset: int, partial: bool) -> int | None:
    if partial:
        m = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
        if m and m.group(3) != "*":
            return int(m.group(3))
    length = resp.headers.get("Content-Length")
    if length is None:
        return None
    return int(length) + (offset if partial else 0)


def _download_once(url: str, part: Path, timeout: float, desc: str) -> None:
    """One attempt: continue ``part`` from its current size (or restart if Range is ignored)."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # range not satisfiable: the .part is already complete
            return
        raise
    with resp:
        status = getattr(resp, "status", 200)
        partial = status == 206
        if offset and not partial:
            log.info("server ignored the Range request for %s; restarting from 0", url)
            offset = 0
        total = _total_size(resp, offset, partial)
        mode = "ab" if partial else "wb"
        with open(part, mode) as f, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=desc, leave=False, disable=None,
        ) as bar:
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))
    size = part.stat().st_size
    if total is not None and size < total:
        raise ConnectionError(f"connection closed after {size} of {total} bytes")


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    checksum: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 2.0,
) -> Path:
    """Download ``url`` to ``dest`` with resume and checksum verification; return ``dest``.

    An existing ``dest`` with the right checksum is reused. Bytes go to ``dest.part``; after a
    dropped connection the download continues from the end of the ``.part`` (HTTP ``Range``),
    up to ``retries`` more times in this call, and in later calls too. ``dest`` appears only once
    complete and verified; on a checksum mismatch the ``.part`` is kept and the error names it.
    """
    dest = Path(dest)
    if checksum:
        parse_checksum(checksum)  # fail early on a malformed checksum
    if dest.is_file():
        verify_checksum(dest, checksum)
        log.info("using cached %s", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        try:
            _download_once(url, part, timeout, desc=dest.name)
            break
        except urllib.error.HTTPError as e:
            raise _http_error(url, e) from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, (ConnectionError, TimeoutError)) and attempt < retries:
                attempt += 1
                time.sleep(backoff * attempt)
                continue
            raise DownloadError(
                f"cannot reach {url} ({e.reason}): no network, a proxy, or the host is down. "
                f"Retry later, set `url` to a mirror, or download the file yourself to {dest} "
                f"(or use `source: local` with `path`)."
            ) from e
        except (ConnectionError, TimeoutError, OSError, http.client.HTTPException) as e:
            if attempt >= retries:
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"download of {url} interrupted ({type(e).__name__}: {e}) after "
                    f"{attempt + 1} attempts; {have} bytes kept in {part}. Run the fetch step "
                    f"again to resume."
                ) from e
            attempt += 1
            log.warning("download of %s interrupted (%s); resuming (attempt %d of %d)",
                        url, e, attempt, retries)
            time.sleep(backoff * attempt)
    verify_checksum(part, checksum, label=f"{dest.name} (from {url})")
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------- extraction


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



# --------------------------------------------------------------------------- local sources


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
    import json

    with atomic_path(raw_dir) as tmp:
        tmp.mkdir(parents=True)
        (tmp / LOCAL_MARKER).write_text(
            json.dumps({"source": "local", "path": str(root), "format": fmt}, indent=2) + "\n"
        )


def is_local(entry: dict) -> bool:
    """Whether a dataset entry reads an existing local directory instead of downloading."""
    return entry.get("source", "download") == "local"
