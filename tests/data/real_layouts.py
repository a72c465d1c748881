"""Test helpers: tiny archives in the exact layouts of the real datasets, and a local HTTP server.

The server runs on 127.0.0.1 in a background thread, supports ``Range`` requests, can drop the
connection midway once (to test resuming) and answer a given HTTP status, and records every
request (path, Range header, bytes sent).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nibabel as nib
import numpy as np


@dataclass
class Request:
    path: str
    range: str | None
    sent: int = 0


@dataclass
class FileServer:
    """Files served at ``url(name)``; ``drop_once`` names files whose first GET is cut midway."""

    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)
    ignore_range: bool = False
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            name = self.path.lstrip("/")
            req = Request(name, self.headers.get("Range"))
            state.requests.append(req)
            if name in state.status:
                code = state.status[name]
                body = f"error {code}".encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if name not in state.files:
                self.send_error(404)
                return
            data = state.files[name]
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", req.range or "")
            if m and not state.ignore_range:
                start = int(m.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if name in state.drop_once:
                state.drop_once.discard(name)
                half = body[: len(body) // 2]
                req.sent = len(half)  # recorded before writing: the client may finish first
                self.wfile.write(half)
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            req.sent = len(body)  # recorded before writing: the client may finish first
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve(state: FileServer) -> Iterator[FileServer]:
    """Run ``state`` as an HTTP server on 127.0.0.1 (random port) for the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- NIfTI bytes


def nifti_bytes(array: np.ndarray, zooms: tuple[float, ...] = (0.8, 0.8, 2.5)) -> bytes:
    """A gzipped NIfTI-1 file holding ``array`` (NIfTI index order X, Y, Z[, C])."""
    affine = np.diag([*zooms[:3], 1.0])
    img = nib.Nifti1Image(array, affine)
    if array.ndim == 4:
        img.header.set_zooms((*zooms[:3], 1.0))
    raw = img.to_bytes()
    import gzip

    return gzip.compress(raw, mtime=0)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tf.addfile(info)
    return buf.getvalue()


# --------------------------------------------------------------------------- BTCV


BTCV_TRAIN = "0005 0006 0007 0009 0010 0021 0023 0024 0026 0027 0028 0030 0031 0033 0034 0037 0039 0040"
BTCV_TEST = "0001 0002 0003 0004 0008 0022 0025 0029 0032 0035 0036 0038"
BTCV_ALL = sorted((BTCV_TRAIN + " " + BTCV_TEST).split())


def btcv_case(seed: int, shape: tuple[int, int, int] = (6, 5, 2)) -> tuple[np.ndarray, np.ndarray]:
    """CT in HU (int16) and a BTCV label map using all 14 raw labels 0..13."""
    rng = np.random.default_rng(seed)
    img = rng.integers(-1000, 1000, shape).astype(np.int16)
    lab = (np.arange(np.prod(shape)) % 14).reshape(shape).astype(np.uint8)
    return img, lab


def btcv_files(cases: list[str] | None = None, *, bad_label: str | None = None) -> dict[str, bytes]:
    """``RawData/Training/img|label`` members of RawData.zip for the given case numbers."""
    files = {}
    for i, num in enumerate(cases or BTCV_ALL):
        img, lab = btcv_case(i)
        if num == bad_label:
            lab[0, 0, 0] = 20
        files[f"RawData/Training/img/img{num}.nii.gz"] = nifti_bytes(img)
        files[f"RawData/Training/label/label{num}.nii.gz"] = nifti_bytes(lab)
    return files


# --------------------------------------------------------------------------- ACDC


ACDC_GROUPS = ("DCM", "HCM", "MINF", "NOR", "RV")


def acdc_files(per_group: int = 2, *, corrupt: str | None = None) -> dict[str, bytes]:
    """``database/training/patientXXX/`` members of the ACDC zip (4D file, 2 frames, Info.cfg)."""
    files = {}
    pid = 0
    for group in ACDC_GROUPS:
        for _ in range(per_group):
            pid += 1
            p = f"patient{pid:03d}"
            es = 3
            base = f"database/training/{p}/"
            files[base + "Info.cfg"] = (
                f"ED: 1\nES: {es}\nGroup: {group}\nHeight: 180.0\nNbFrame: 4\nWeight: 80.0\n"
            ).encode()
            rng = np.random.default_rng(pid)
            for frame in (1, es):
                img = rng.uniform(0, 500, (7, 6, 3)).astype(np.float32)
                lab = rng.integers(0, 4, (7, 6, 3)).astype(np.uint8)
                files[base + f"{p}_frame{frame:02d}.nii.gz"] = nifti_bytes(img, (1.5, 1.5, 10.0))
                files[base + f"{p}_frame{frame:02d}_gt.nii.gz"] = nifti_bytes(lab, (1.5, 1.5, 10.0))
            files[base + f"{p}_4d.nii.gz"] = nifti_bytes(np.zeros((7, 6, 3, 4), np.float32))
            if corrupt == p:
                data = files[base + f"{p}_frame01.nii.gz"]
                files[base + f"{p}_frame01.nii.gz"] = data[: len(data) // 2]
    files["database/MANDATORY_CITATION.md"] = b"Bernard et al., IEEE TMI 2018\n"
    return files


# --------------------------------------------------------------------------- BraTS


def brats_volume(seed: int, shape=(6, 6, 4)) -> tuple[np.ndarray, np.ndarray]:
    """Four MRI channels (X, Y, Z, 4) with a zero background, and MSD labels 0..3."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(100, 900, (*shape, 4)).astype(np.float32)
    img[0] = 0  # background outside the brain
    lab = rng.integers(0, 4, shape).astype(np.uint8)
    lab[0] = 0
    return img, lab


def msd_files(n: int = 10) -> dict[str, bytes]:
    """``Task01_BrainTumour/`` members of the MSD tar (4-D images, dataset.json)."""
    files, training = {}, []
    for i in range(1, n + 1):
        img, lab = brats_volume(i)
        files[f"Task01_BrainTumour/imagesTr/BRATS_{i:03d}.nii.gz"] = nifti_bytes(img, (1, 1, 1))
        files[f"Task01_BrainTumour/labelsTr/BRATS_{i:03d}.nii.gz"] = nifti_bytes(lab, (1, 1, 1))
        training.append({"image": f"./imagesTr/BRATS_{i:03d}.nii.gz",
                         "label": f"./labelsTr/BRATS_{i:03d}.nii.gz"})
    files["Task01_BrainTumour/imagesTr/._BRATS_001.nii.gz"] = b"macOS resource fork junk"
    meta = {
        "name": "BRATS",
        "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor",
                   "3": "enhancing tumour"},
        "numTraining": n,
        "training": training,
        "test": [],
    }
    files["Task01_BrainTumour/dataset.json"] = json.dumps(meta).encode()
    return files


def write_brats_official(root: Path, n: int = 10, *, year: str = "2021") -> dict[str, np.ndarray]:
    """Official BraTS case folders (labels 0, 1 NCR, 2 ED, 4 ET); returns the MSD-convention labels."""
    expected = {}
    official = np.array([0, 2, 1, 4])  # MSD label -> official label
    for i in range(n):
        case = f"BraTS{year}_{i:05d}"
        folder = root / case
        folder.mkdir(parents=True)
        img, lab = brats_volume(100 + i)
        for c, suffix in enumerate(("flair", "t1", "t1ce", "t2")):
            (folder / f"{case}_{suffix}.nii.gz").write_bytes(nifti_bytes(img[..., c], (1, 1, 1)))
        (folder / f"{case}_seg.nii.gz").write_bytes(
            nifti_bytes(official[lab].astype(np.uint8), (1, 1, 1))
        )
        expected[case] = lab
    return expected


# --------------------------------------------------------------------------- ACDC, SSL4MIS's h5 layout


def ssl4mis_case(case: str, depth: int = 3, shape: tuple[int, int] = (8, 6)) -> tuple[np.ndarray, np.ndarray]:
    """A volume (Z, H, W) min-max scaled to [0, 1] and labels 0..3 in which slice ``k`` (from 0)
    holds the value ``k % 4`` at pixel (0, 0), so stacking order is visible."""
    rng = np.random.default_rng(int(case[7:10]) * 10 + int(case[-2:]))
    image = rng.uniform(0, 1, (depth, *shape)).astype(np.float32)
    image[0, 0, 1], image[-1, 0, 1] = 0.0, 1.0
    label = rng.integers(0, 4, (depth, *shape)).astype(np.uint8)
    label[:, 0, 0] = np.arange(depth) % 4
    return image, label


def write_h5(path: Path, **arrays: np.ndarray) -> None:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)


def write_ssl4mis(root: Path, *, train: tuple[str, ...] = ("patient003", "patient004"),
                  val: tuple[str, ...] = ("patient002",), test: tuple[str, ...] = ("patient001", "patient007"),
                  depth: int = 3, flat: bool = False, train_volumes: bool = True,
                  first_slice: int = 1) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """SSL4MIS's ACDC layout under ``root`` (both frames of each patient; ``flat``: every file in
    ``root``); training slices numbered from ``first_slice`` and, with ``train_volumes``, the
    training volumes too (as SSL4MIS ships all 200). Returns case -> (image, label)."""
    volumes = root if flat else root / "data"
    slices = root if flat else root / "data" / "slices"
    cases = {}
    lines: dict[str, list[str]] = {"train_slices": [], "train": [], "val": [], "test": []}
    for split, patients in (("train", train), ("val", val), ("test", test)):
        for patient in patients:
            for frame in ("frame01", "frame02"):
                case = f"{patient}_{frame}"
                cases[case] = image, label = ssl4mis_case(case, depth)
                lines[split].append(case)
                if split != "train" or train_volumes:
                    write_h5(volumes / f"{case}.h5", image=image, label=label)
                if split == "train":
                    for k in range(depth):
                        entry = f"{case}_slice_{k + first_slice}"
                        write_h5(slices / f"{entry}.h5", image=image[k], label=label[k])
                        lines["train_slices"].append(entry)
    for name, entries in lines.items():
        (root / f"{name}.list").write_text("".join(f"{e}\n" for e in entries[::-1]))  # any order
    return cases


# Real data for tests, next to the repository (never committed): <repo>/../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """``SHARED_DATA / name``, or skip the test saying what is missing."""
    import pytest

    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is absent (see that folder's README); this test reads it")
    return path
