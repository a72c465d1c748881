"""Training checkpoints: everything needed to resume, written atomically, loaded safely."""

from __future__ import annotations

import errno
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morse.common import atomic_path


class CheckpointMismatchError(RuntimeError):
    """A checkpoint was written by a run with a different resolved configuration."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint or model file cannot be read (truncated, overwritten, not a torch file)."""


class DiskFullError(OSError, RuntimeError):
    """A checkpoint or model could not be written because the disk (or quota) is full.

    Also a ``RuntimeError``, so ``morse-bench`` reports it as a one-line error."""


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def _disk_is_full(error: BaseException, folder: Path) -> bool:
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
        return True
    # torch.save reports a failed write from its C++ zip writer as a RuntimeError without errno.
    if isinstance(error, RuntimeError) and "write" in str(error).lower():
        try:
            return shutil.disk_usage(folder).free == 0
        except OSError:
            return False
    return False


def rng_state() -> dict[str, Any]:
    """The states of torch's, numpy's and Python's global random generators."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generator states captured by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with torch.save to a temporary file, then rename it into place.

    If the write fails, the temporary file is removed and an existing ``path`` (the previous
    checkpoint) is left as it was; a full disk is reported as :class:`DiskFullError` naming
    ``path``.
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except (OSError, RuntimeError) as error:
        if not _disk_is_full(error, path.parent):
            raise
        kept = "the previous one is kept unchanged" if path.exists() else "no earlier one exists"
        raise DiskFullError(
            errno.ENOSPC,
            f"cannot write {path}: the disk is full ({error}); {kept}. Free space on "
            f"{path.parent} and run the same command again to resume",
        ) from error


def load_checkpoint(path: Path, config_hash: str | None = None) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; refuse one from a different configuration
    and name an unreadable (truncated, corrupt) file with the remedy, in one line."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, zip errors
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CorruptCheckpointError(
            f"{path} is corrupt or truncated ({type(error).__name__}: {reason}); "
            "delete it to retrain (a killed copy or a full disk can cause this)"
        ) from error
    if not isinstance(payload, dict) or "model" not in payload:
        raise CorruptCheckpointError(f"{path} is not a morse-bench checkpoint (no 'model' entry); delete it to retrain")
    if config_hash is not None and payload.get("config_hash") != config_hash:
        raise CheckpointMismatchError(
            f"{path} was written by a run with config hash {payload.get('config_hash')!r}, "
            f"not {config_hash!r}; delete it (or the run folder) to train anew"
        )
    return payload
