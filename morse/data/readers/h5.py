"""HDF5 files with ``image`` and ``label`` datasets (TransUNet's and SSL4MIS's preprocessed data).

``h5py`` is an optional dependency: the extra ``h5`` of the package (``pip install -e '.[h5]'``
in a clone, or ``pip install h5py``).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from morse.data.errors import DataError

__all__ = ["H5_INSTALL", "read_image_label", "require_h5py"]

H5_INSTALL = "install the optional extra h5: `pip install -e '.[h5]'` in the clone (or `pip install h5py`)"


def require_h5py(what: str) -> ModuleType:
    """The ``h5py`` module; a :class:`DataError` naming the extra to install if it is absent."""
    try:
        import h5py
    except ImportError as e:
        raise DataError(f"{what} needs the optional package h5py: {H5_INSTALL}") from e
    return h5py


def read_image_label(path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``image`` and ``label`` datasets of the HDF5 file ``path``; a :class:`DataError`
    naming the file when it is unreadable or lacks one of them."""
    h5py = require_h5py(what)
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("image", "label") if k not in f]
            if missing:
                raise DataError(
                    f"{path} has no {' or '.join(repr(k) for k in missing)} dataset (it holds "
                    f"{sorted(f.keys())}); {what} files hold 'image' and 'label': replace the file"
                )
            return np.asarray(f["image"][()]), np.asarray(f["label"][()])
    except DataError:
        raise
    except Exception as e:  # h5py raises OSError and others for corrupt files
        raise DataError(f"cannot read {path} (corrupt or not HDF5?): {e}") from e
