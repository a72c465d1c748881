"""Downloads: resume, checksums, HTTP errors; no network (a local test server)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from real_layouts import FileServer, serve

from morse.data.sources.download import DownloadError, download_file, parse_checksum

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_download_verifies_and_reuses_cache(tmp_path: Path) -> None:
    with serve(FileServer(files={"f.bin": PAYLOAD})) as srv:
        dest = download_file(srv.url("f.bin"), tmp_path / "f.bin", checksum=sha256(PAYLOAD))
        assert dest.read_bytes() == PAYLOAD
        md5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
        download_file(srv.url("f.bin"), tmp_path / "f.bin", checksum=md5)
        assert len(srv.requests) == 1  # second call used the verified cached file
    assert not (tmp_path / "f.bin.part").exists()


def test_interrupted_download_resumes_with_range(tmp_path: Path) -> None:
    with serve(FileServer(files={"f.bin": PAYLOAD}, drop_once={"f.bin"})) as srv:
        dest = download_file(srv.url("f.bin"), tmp_path / "f.bin", checksum=sha256(PAYLOAD),
                             retries=2, backoff=0)
        assert dest.read_bytes() == PAYLOAD
        first, second = srv.requests
        assert first.range is None and 0 < first.sent < len(PAYLOAD)
        assert second.range == f"bytes={first.sent}-"
        assert second.sent == len(PAYLOAD) - first.sent < len(PAYLOAD)


def test_interrupted_download_resumes_in_a_later_run(tmp_path: Path) -> None:
    with serve(FileServer(files={"f.bin": PAYLOAD}, drop_once={"f.bin"})) as srv:
        with pytest.raises(DownloadError, match="interrupted.*Run the fetch step again"):
            download_file(srv.url("f.bin"), tmp_path / "f.bin", checksum=sha256(PAYLOAD), retries=0)
        part = tmp_path / "f.bin.part"
        assert 0 < part.stat().st_size < len(PAYLOAD) and not (tmp_path / "f.bin").exists()
        download_file(srv.url("f.bin"), tmp_path / "f.bin", checksum=sha256(PAYLOAD), retries=0)
        assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
        assert srv.requests[1].range is not None and srv.requests[1].sent < len(PAYLOAD)


def test_server_ignoring_range_restarts_cleanly(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(b"garbage from an old attempt")
    with serve(FileServer(files={"f.bin": PAYLOAD}, ignore_range=True)) as srv:
        download_file(srv.url("f.bin"), tmp_path / "f.bin", checksum=sha256(PAYLOAD))
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


@pytest.mark.parametrize(("code", "words"), [(401, "credentials"), (403, "credentials"),
                                             (404, "moved")])
def test_http_errors_are_explained(tmp_path: Path, code: int, words: str) -> None:
    with serve(FileServer(status={"x.tar": code})) as srv, pytest.raises(DownloadError) as e:
        download_file(srv.url("x.tar"), tmp_path / "x.tar")
    assert f"HTTP {code}" in str(e.value) and words in str(e.value) and srv.url("x.tar") in str(e.value)
    assert not (tmp_path / "x.tar").exists()


def test_unreachable_host(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach|interrupted"):
        download_file(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=0)


def test_bad_checksum_spec() -> None:
    assert parse_checksum("MD5:" + "A" * 32) == ("md5", "a" * 32)
    with pytest.raises(ValueError, match="algorithm"):
        parse_checksum("crc32:1234")
