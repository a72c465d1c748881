"""Resumable HTTP(S) downloads with checksums, for the ``fetch`` step.

:func:`download_file` downloads to ``<dest>.part`` and resumes it with an HTTP ``Range`` request
after an interruption (also across runs: the download cache survives failures); the file gets
its final name only once it is complete and its checksum ("md5:<hex>" or "sha256:<hex>") matches.
Extracting what was downloaded is :mod:`morse.data.sources.archives`.

Every failure raises :class:`DownloadError` (or :class:`ChecksumError`) with one message naming
the URL or file and saying what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

__all__ = [
    "ChecksumError",
    "DownloadError",
    "default_cache_dir",
    "download_file",
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
