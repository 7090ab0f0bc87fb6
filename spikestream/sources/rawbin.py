"""Headerless raw-binary recordings: interleaved frames of ``channels`` values of one ``dtype``.

The Myo armband files, for instance, are int16, 8 channels interleaved, 200 Hz:
``read_raw(path, "<i2", 8)`` is ``np.fromfile(path, np.int16).reshape(-1, 8)`` as float32. Values become
``raw * scale + offset``. A file whose size is not a whole number of frames (a truncated recording) gives
its whole frames; the partial frame at the end is never used, it is counted in the result and logged
with the file's name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np


class RawRecording(NamedTuple):
    data: np.ndarray  # float32 [frames, channels]
    partial_bytes: int  # bytes after the last whole frame (0 for a sound file)


def raw_dtype(dtype) -> np.dtype:
    """A numeric numpy dtype from a name such as "<i2", "int16", "<f4"; ValueError otherwise."""
    try:
        dt = np.dtype(str(dtype))
    except TypeError:
        raise ValueError(f"dtype {dtype!r} is not a numpy dtype (e.g. '<i2', '<f4')") from None
    if dt.kind not in "iuf" or dt.fields is not None:
        raise ValueError(f"dtype {dtype!r}: a raw recording holds integers or floats")
    return dt


def read_raw(path, dtype, channels: int, scale: float = 1.0, offset: float = 0.0,
             log: logging.Logger | None = None) -> RawRecording:
    p = Path(path)
    dt = raw_dtype(dtype)
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"raw file {p}: channels must be a positive integer, got {channels!r}")
    frame = dt.itemsize * int(channels)
    size = p.stat().st_size
    frames, partial = divmod(size, frame)
    if frames == 0:
        raise ValueError(f"raw file {p}: {size} bytes, not one whole frame of {channels} x {dt.name}")
    if partial:
        (log or logging.getLogger("spikestream.sources.rawbin")).warning(
            "raw file %s: %d byte(s) after the last whole frame (a truncated recording); %d whole frame(s) read, "
            "the partial one skipped", p, partial, frames)
    raw = np.fromfile(p, dtype=dt, count=frames * int(channels)).reshape(frames, int(channels))
    data = raw.astype(np.float32)
    if scale != 1.0:
        data *= np.float32(scale)
    if offset != 0.0:
        data += np.float32(offset)
    return RawRecording(data, int(partial))
