"""Filter designs kept on disk, so a restarted node never imports scipy.signal.

Designing a Butterworth filter is scipy.signal's job, and importing scipy.signal takes ~0.8 s: a node that
designs a filter at start (a conditioning chain, the synthetic EMG source) would pay it again at every
restart, most of its time back after a kill -9. `cached(kind, params, make)` returns the coefficients
`make()` computes (with scipy) the first time, and afterwards reads them from a small .npy file keyed by
`kind`, `params` and the installed scipy's version — as Numba keeps compiled kernels. The folder is
``$SPIKESTREAM_CACHE_DIR``, else systemd's ``$CACHE_DIRECTORY``, else ``$XDG_CACHE_HOME`` or ``~/.cache``,
under ``spikestream/filters``. A file that cannot be read or written is simply designed again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np


def cache_dir() -> Path:
    base = os.environ.get("SPIKESTREAM_CACHE_DIR") or os.environ.get("CACHE_DIRECTORY")
    if not base:
        base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spikestream")
    return Path(base.split(":")[0]) / "filters"


def cached(kind: str, params: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The float64 array `make()` returns for this `kind` and `params`, from disk when designed before."""
    try:
        scipy_version = metadata.version("scipy")
    except metadata.PackageNotFoundError:
        scipy_version = "?"
    key = hashlib.sha256(repr((kind, params, scipy_version)).encode()).hexdigest()[:32]
    path = cache_dir() / f"{kind}-{key}.npy"
    try:
        a = np.load(path, allow_pickle=False)
        if a.dtype == np.float64 and np.all(np.isfinite(a)):
            return a
    except (OSError, ValueError):
        pass
    a = np.asarray(make(), np.float64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, a)
        os.replace(tmp, path)
    except OSError:
        pass
    return a
