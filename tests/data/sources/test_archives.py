"""Safe, atomic archive extraction, and fetch_archive (download + extract); no network."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from real_layouts import FileServer, serve, tar_bytes, zip_bytes

from morse.data.sources.archives import UnsafeArchiveError, extract_archive, fetch_archive
from morse.data.sources.download import ChecksumError, DownloadError


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
