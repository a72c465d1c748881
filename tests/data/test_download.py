"""Downloads (resume, checksums, HTTP errors) and safe, atomic archive extraction; no network."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import zipfile
from pathlib import Path

import pytest
from real_layouts import FileServer, serve, tar_bytes, zip_bytes

from morse.data.sources.archives import UnsafeArchiveError, extract_archive, fetch_archive
from morse.data.sources.download import ChecksumError, DownloadError, download_file, parse_checksum

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


def test_checksum_mismatch_names_file_and_extracts_nothing(tmp_path: Path) -> None:
    archive = zip_bytes({"a/b.txt": b"hello"})
    wrong = "sha256:" + "0" * 64
    raw = tmp_path / "raw" / "ds"
    with serve(FileServer(files={"data.zip": archive})) as srv, pytest.raises(ChecksumError) as e:
        fetch_archive(srv.url("data.zip"), raw, filename="data.zip", checksum=wrong,
                      cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert "data.zip" in msg and "0" * 64 in msg and hashlib.sha256(archive).hexdigest() in msg
    assert "delete" in msg and ".part" in msg
    assert not raw.exists() and not (tmp_path / "cache" / "data.zip").exists()


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


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("bad", [
    {"files": {"ok.txt": b"1", "../evil.txt": b"x"}},
    {"files": {"ok.txt": b"1", "/tmp/evil.txt": b"x"}},
    {"files": {"ok.txt": b"1"}, "extra": [_link("d/link", "../../outside")]},
    {"files": {"ok.txt": b"1"}, "extra": [_link("d/link", "/etc/passwd")]},
    {"files": {"ok.txt": b"1"}, "extra": [_link("hard", "../x", tarfile.LNKTYPE)]},
    {"files": {"ok.txt": b"1"}, "extra": [_link("dev", "", tarfile.CHRTYPE)]},
])
def test_unsafe_tar_is_rejected_and_nothing_extracted(tmp_path: Path, bad: dict) -> None:
    archive = tmp_path / "a" / "bad.tar"
    archive.parent.mkdir()
    archive.write_bytes(tar_bytes(**bad))
    target = tmp_path / "a" / "out"
    with pytest.raises(UnsafeArchiveError, match="bad.tar.*nothing was extracted"):
        extract_archive(archive, target)
    assert sorted(p.name for p in archive.parent.iterdir()) == ["bad.tar"]
    assert not (tmp_path / "evil.txt").exists()


def test_safe_links_inside_are_fine_and_zip_traversal_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "ok.tar"
    archive.write_bytes(tar_bytes({"d/a.txt": b"a"}, extra=[_link("d/l", "a.txt")]))
    out = extract_archive(archive, tmp_path / "out")
    assert (out / "d" / "l").read_bytes() == b"a"
    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_bytes({"ok": b"1", "x/../../evil": b"2"}))
    with pytest.raises(UnsafeArchiveError, match="bad.zip"):
        extract_archive(bad, tmp_path / "zout")
    assert not (tmp_path / "zout").exists() and not (tmp_path / "evil").exists()


def test_zip_symlink_rejected(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    (tmp_path / "l.zip").write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_archive(tmp_path / "l.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupt_archive_keeps_previous_target(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("complete")
    good = tar_bytes({"x/y.txt": b"y" * 5000})
    (tmp_path / "t.tar").write_bytes(good[:3000])
    with pytest.raises(DownloadError, match="t.tar"):
        extract_archive(tmp_path / "t.tar", target)
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "t.tar"]
