"""Replay of recorded samples from CSV, WAV, NPY and NPZ files.

- **CSV**: comma-separated, an optional header row of names. ``time_column`` (a name or index) holds the
  sample times in ``time_unit`` ("us", "ms" or "s"); without one, ``rate_hz`` sets ``t = k / rate_hz``.
  ``columns`` (names or indices) picks the data columns; default: all but the time column.
- **WAV** (scipy.io.wavfile): the file's rate; integer PCM scaled to [-1, 1).
- **NPY**: a ``[n, C]`` (or ``[n]``) array, memory-mapped; needs ``rate_hz``.
- **NPZ**: arrays ``data [n, C]`` and ``t_us [n]`` (int64), or ``data`` and a scalar ``rate_hz``.
- **XDF** (Lab Streaming Layer, `spikestream record`; `spikestream.record.xdf`): the numeric stream named
  ``stream`` (or the only "samples" stream); its time stamps (seconds), channel labels and nominal rate.
- **EDF / EDF+ / BDF** (`spikestream.record.edf`): the signals named or indexed by ``columns`` (default: the
  ordinary signals at the rate most of them share), physical values, times from the records (EDF+D's
  record onsets included); annotation signals are never data; a truncated file gives its whole records.
- **Raw binary** (.dat/.bin/.raw, or another unknown suffix with ``dtype``): headerless interleaved frames (`rawbin.read_raw`),
  needs ``dtype``, ``channels`` and ``rate_hz``; ``raw * scale + offset``; a trailing partial frame is
  skipped, counted (``partial_frames``) and logged with the file's name.

``channels``, when given, is the width the file must have: another width is an error naming the file.

At load, rows holding NaN/inf and rows whose time does not increase are dropped and counted, and gaps
are counted (`TimeChecker`), so a replay reports what the recording lacks. `read` hands out rows in order;
pacing (recorded pace times ``speed``, or as fast as possible) is the node's job (`nodes/sources.py`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np

from spikestream.registry import SOURCES
from spikestream.sources._base import Chunk, TimeChecker
from spikestream.sources.rawbin import read_raw

_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def _load_csv(path: Path, time_column, time_unit: str, columns):
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    cells = [c.strip() for c in first.split(",")]
    try:
        [float(c) for c in cells]
        names, skip = [f"ch{i}" for i in range(len(cells))], 0
    except ValueError:
        names, skip = cells, 1
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"file {path}: not a numeric CSV table ({e})") from None

    def col(c) -> int:
        if isinstance(c, str):
            if c not in names:
                raise ValueError(f"file {path}: no column {c!r}; columns are {names}")
            return names.index(c)
        if not 0 <= int(c) < table.shape[1]:
            raise ValueError(f"file {path}: column index {c} out of range (0..{table.shape[1] - 1})")
        return int(c)

    tcol = None if time_column is None else col(time_column)
    if columns is None:
        dcols = [i for i in range(table.shape[1]) if i != tcol]
    else:
        dcols = [col(c) for c in columns]
    t = None if tcol is None else np.round(table[:, tcol] * _UNITS[time_unit]).astype(np.int64)
    return t, table[:, dcols].astype(np.float32), [names[i] for i in dcols]


def _load_wav(path: Path):
    from scipy.io import wavfile

    rate, x = wavfile.read(path, mmap=False)
    x = x.reshape(x.shape[0], -1)
    if x.dtype.kind == "i":
        x = x.astype(np.float32) / float(2 ** (8 * x.dtype.itemsize - 1))
    elif x.dtype.kind == "u":  # 8-bit PCM is unsigned
        x = (x.astype(np.float32) - 128.0) / 128.0
    return float(rate), x.astype(np.float32)


_RAW_EXT = (".dat", ".bin", ".raw")
_FORMATS = (".csv", ".wav", ".npy", ".npz", ".xdf", ".edf", ".bdf")


def is_raw(path, dtype) -> bool:
    """A raw binary file: a .dat/.bin/.raw name, or ``dtype`` given for a name of no other known format."""
    ext = Path(path).suffix.lower()
    return ext in _RAW_EXT or (dtype is not None and ext not in _FORMATS)


class Recording(NamedTuple):
    t_us: np.ndarray | None  # int64 [n], or None: times from the rate
    data: np.ndarray  # [n, C], numeric (not yet checked for NaN/inf)
    names: list[str] | None
    rate_hz: float | None
    partial_frames: int  # a raw file's trailing partial frame (0 or 1)


def load_recording(path, rate_hz: float | None = None, time_column=None, time_unit: str = "us", columns=None,
                   dtype=None, channels: int | None = None, scale: float = 1.0, offset: float = 0.0,
                   log: logging.Logger | None = None, stream: str | None = None) -> Recording:
    """Read one recording (CSV, WAV, NPY, NPZ, XDF, EDF/BDF or raw binary) without checking its rows. ``channels``, when
    given, is the width every file must have (a raw file's frame width); a file of another width is a
    ValueError naming the file. A raw file (.dat/.bin/.raw, or any other name not .csv/.wav/.npy/.npz
    with ``dtype`` given) needs ``dtype`` and
    ``channels`` and gives ``raw * scale + offset``."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"file source: {path} does not exist or is not a file")
    if time_unit not in _UNITS:
        raise ValueError(f"file source: time_unit must be one of {sorted(_UNITS)}, got {time_unit!r}")
    if rate_hz is not None and not rate_hz > 0:
        raise ValueError(f"file source: rate_hz must be > 0, got {rate_hz}")
    if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
        raise ValueError(f"file source: channels must be a positive integer, got {channels!r}")
    ext = p.suffix.lower()
    t = None
    names = None
    partial = 0
    if is_raw(p, dtype):
        if dtype is None or channels is None:
            raise ValueError(f"file {path}: a raw binary file needs 'dtype' (e.g. '<i2') and 'channels'")
        raw = read_raw(p, dtype, channels, scale, offset, log)
        data, partial = raw.data, int(raw.partial_bytes > 0)
    elif ext == ".csv":
        t, data, names = _load_csv(p, time_column, time_unit, columns)
    elif ext == ".wav":
        file_rate, data = _load_wav(p)
        rate_hz = rate_hz or file_rate
    elif ext == ".npy":
        data = np.load(p, mmap_mode="r", allow_pickle=False)
    elif ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if "data" not in z:
                raise ValueError(f"file {path}: an .npz needs an array 'data'")
            data = z["data"]
            if "t_us" in z:
                t = np.asarray(z["t_us"])
                if t.dtype.kind not in "iu":
                    raise ValueError(f"file {path}: t_us must be integer microseconds")
                t = t.astype(np.int64)
            elif "rate_hz" in z:
                rate_hz = rate_hz or float(z["rate_hz"])
    elif ext == ".xdf":
        from spikestream.record.xdf import load_samples

        t, data, names, file_rate = load_samples(p, stream)
        rate_hz = rate_hz or file_rate
    elif ext in (".edf", ".bdf"):
        from spikestream.record.edf import read_edf

        edf = read_edf(p, columns, log)
        t, data, names, rate_hz = edf.t_us, edf.data, edf.names, rate_hz or edf.rate_hz
        partial = int(edf.header.partial_bytes > 0)
    else:
        raise ValueError(f"file source: unknown format {ext!r} (csv, wav, npy, npz, xdf, edf, bdf, or raw binary "
                         "with dtype)")
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"file {path}: data must be [samples, channels] and non-empty, got shape {data.shape}")
    if data.dtype.kind not in "fiu":
        raise ValueError(f"file {path}: data must be numeric, got {data.dtype}")
    if channels is not None and data.shape[1] != channels:
        raise ValueError(f"file {path}: {data.shape[1]} channels where {channels} are expected")
    if t is not None and t.shape != (data.shape[0],):
        raise ValueError(f"file {path}: {t.size} times for {data.shape[0]} rows")
    if t is None and rate_hz is None:
        raise ValueError(f"file {path}: no time column or rate in the file; give rate_hz")
    return Recording(t, data, names, None if rate_hz is None else float(rate_hz), partial)


class ArrayReplay:
    """The replay interface over rows already in memory (``t_us``, ``total``): a position that `read`
    advances, `skip`, and a state of that one position. Subclasses build their chunk in `_chunk`."""

    what = "replay"
    t_us: np.ndarray
    total: int
    _k: int = 0

    @property
    def position(self) -> int:
        return self._k

    def time_us(self, k):
        return self.t_us[np.minimum(k, self.total - 1)]

    def rows_until(self, t_us: int) -> int:
        """How many rows have times <= t_us."""
        return int(np.searchsorted(self.t_us, t_us, side="right"))

    def read(self, max_samples: int):
        n = max(0, min(int(max_samples), self.total - self._k))
        k = self._k
        self._k += n
        return self._chunk(k, n)

    def _chunk(self, k: int, n: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def skip(self, n: int) -> None:
        self._k = min(self.total, self._k + max(0, int(n)))

    def get_state(self) -> dict[str, np.ndarray]:
        return {"position": np.array([self._k], np.int64)}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        pos = np.asarray(state.get("position", []))
        if pos.shape != (1,) or not 0 <= int(pos[0]) <= self.total:
            raise ValueError(f"{self.what} state needs 'position' of shape (1,) within 0..{self.total}")
        self._k = int(pos[0])


@SOURCES.register("file")
class FileSource(ArrayReplay):
    what = "file source"

    def __init__(self, path: str, rate_hz: float | None = None, time_column=None, time_unit: str = "us",
                 columns=None, dtype=None, channels: int | None = None, scale: float = 1.0, offset: float = 0.0,
                 log: logging.Logger | None = None, stream: str | None = None):
        p = Path(path)
        self.log = log or logging.getLogger("spikestream.sources.file")
        t, data, names, rate_hz, partial = load_recording(p, rate_hz, time_column, time_unit, columns, dtype,
                                                          channels, scale, offset, self.log, stream)
        if t is None:
            t = np.round(np.arange(data.shape[0]) * (1e6 / rate_hz)).astype(np.int64)
        if rate_hz is None:  # estimate the nominal rate from the median step
            steps = np.diff(t)
            rate_hz = 1e6 / float(np.median(steps)) if steps.size and np.median(steps) > 0 else 0.0
        self.rate_hz = float(rate_hz)
        self.stats: dict[str, int] = {"partial_frames": partial}
        check = TimeChecker(self.rate_hz, self.stats, self.log, f"file {p.name}")
        self.t_us, self.data = check.admit(t, np.ascontiguousarray(data, np.float32))
        if self.t_us.size == 0:
            raise ValueError(f"file {path}: no usable rows (all NaN/inf or out of order)")
        self.n_channels = self.data.shape[1]
        self.channels = names or [f"ch{i}" for i in range(self.n_channels)]
        self.total = int(self.t_us.size)
        self._k = 0

    def _chunk(self, k: int, n: int) -> Chunk:
        return Chunk(self.t_us[k:k + n], self.data[k:k + n], 0)
