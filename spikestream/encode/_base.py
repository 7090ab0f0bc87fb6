"""What every encoder shares: input validation, the time-continuity check, state plumbing.

An encoder turns analog samples ``data float32[n, C]`` at ``t_us int64[n]`` into spikes
``(idx int32[m], t_us int64[m])``, sorted by time, then by neuron index. Subclasses implement
`_encode` (calls a jitted kernel) and list their state arrays in ``_state_names``; everything else is here.
"""

from __future__ import annotations

import numpy as np

_NO_TIME = np.iinfo(np.int64).min


class Encoder:
    """Base class: validate once at the boundary, then run the kernel on trusted arrays."""

    #: Names of the attributes (numpy arrays) that form the dynamic state.
    _state_names: tuple[str, ...] = ()

    def __init__(self, n_inputs: int, n_outputs: int):
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self._last_t = np.array([_NO_TIME], np.int64)

    # ------------------------------------------------------------------ public
    def encode(self, data: np.ndarray, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encode one chunk. Raises ValueError (and changes no state) on bad input."""
        data, t_us = check_chunk(data, t_us, self.n_inputs, int(self._last_t[0]))
        if t_us.size == 0:
            return np.empty(0, np.int32), np.empty(0, np.int64)
        idx, t = self._encode(data, t_us)
        self._last_t[0] = t_us[-1]
        return idx, t

    def reset(self) -> None:
        """Forget the stream (state as just after construction)."""
        self._last_t[0] = _NO_TIME
        self._reset()

    def get_state(self) -> dict[str, np.ndarray]:
        st = {name: getattr(self, name).copy() for name in self._state_names}
        st["last_t"] = self._last_t.copy()
        return st

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        names = (*self._state_names, "last_t")
        missing = [n for n in names if n not in state]
        if missing:
            raise ValueError(f"{type(self).__name__} state lacks {', '.join(missing)}")
        for n in names:
            cur = self._last_t if n == "last_t" else getattr(self, n)
            new = np.asarray(state[n])
            if new.shape != cur.shape:
                raise ValueError(f"{type(self).__name__} state {n!r} has shape {new.shape}, expected {cur.shape}")
        for n in names:
            cur = self._last_t if n == "last_t" else getattr(self, n)
            cur[...] = np.asarray(state[n], cur.dtype)

    # ------------------------------------------------------------------ for subclasses
    def _encode(self, data: np.ndarray, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError


def check_chunk(data, t_us, n_channels: int, last_t: int = _NO_TIME) -> tuple[np.ndarray, np.ndarray]:
    """Validate a chunk of samples; return C-contiguous float32 data and int64 times."""
    data = np.asarray(data)
    t_us = np.asarray(t_us)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-d [n, channels], got shape {data.shape}")
    if data.shape[1] != n_channels:
        raise ValueError(f"data has {data.shape[1]} channels, this stage expects {n_channels}")
    if t_us.ndim != 1 or t_us.shape[0] != data.shape[0]:
        raise ValueError(f"t_us must be 1-d with one time per row: {t_us.shape} for {data.shape[0]} rows")
    if t_us.dtype.kind not in "iu":
        raise ValueError(f"t_us must be integer microseconds, got dtype {t_us.dtype}")
    t_us = np.ascontiguousarray(t_us, np.int64)
    data = np.ascontiguousarray(data, np.float32)
    if t_us.size == 0:
        return data, t_us
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise ValueError(f"data holds {bad} NaN/inf value(s)")
    if t_us.size > 1 and not (np.diff(t_us) > 0).all():
        raise ValueError("t_us is not strictly increasing")
    if t_us[0] <= last_t:
        raise ValueError(f"chunk starts at t={int(t_us[0])} us, not after the previous chunk's last sample t={last_t} us")
    return data, t_us


class SpikeBuffer:
    """A reusable output buffer for kernels: grow only when a chunk can produce more spikes than fit."""

    def __init__(self, capacity: int = 4096):
        self.idx = np.empty(capacity, np.int32)
        self.t = np.empty(capacity, np.int64)

    def ensure(self, capacity: int) -> None:
        if capacity > self.idx.size:
            cap = max(capacity, 2 * self.idx.size)
            self.idx = np.empty(cap, np.int32)
            self.t = np.empty(cap, np.int64)

    def take(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        return self.idx[:m].copy(), self.t[:m].copy()
