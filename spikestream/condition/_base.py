"""Shared by every streaming stage on samples: chunk validation and array-state plumbing."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from spikestream.params import Params, validate

NO_TIME = np.iinfo(np.int64).min


def check_chunk(data, t_us, n_channels: int, last_t: int = NO_TIME) -> tuple[np.ndarray, np.ndarray]:
    """Validate a chunk of samples; return C-contiguous float32 data and int64 times, or raise ValueError."""
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
    code = _check_kernel(data, t_us, last_t)
    if code == 1:
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise ValueError(f"data holds {bad} NaN/inf value(s)")
    if code == 2:
        raise ValueError("t_us is not strictly increasing")
    if code == 3:
        raise ValueError(f"chunk starts at t={int(t_us[0])} us, not after the previous chunk's last sample t={last_t} us")
    return data, t_us


@njit(cache=True)
def _check_kernel(data, t_us, last_t):
    """0 if the chunk is fine; 1 NaN/inf in data; 2 times not strictly increasing; 3 not after last_t."""
    n, c = data.shape
    for i in range(n):
        for k in range(c):
            v = data[i, k]
            if not (v - v == 0.0):  # NaN and +-inf give NaN here
                return 1
    for i in range(1, n):
        if t_us[i] <= t_us[i - 1]:
            return 2
    if t_us[0] <= last_t:
        return 3
    return 0


class StatefulStage:
    """State plumbing: the arrays named in ``_state_names`` plus the last sample time."""

    _state_names: tuple[str, ...] = ()

    def __init__(self):
        self._last_t = np.array([NO_TIME], np.int64)

    def _arrays(self) -> dict[str, np.ndarray]:
        d = {n: getattr(self, n) for n in self._state_names}
        d["last_t"] = self._last_t
        return d

    def get_state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._arrays().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        cur = self._arrays()
        missing = [n for n in cur if n not in state]
        if missing:
            raise ValueError(f"{type(self).__name__} state lacks {', '.join(missing)}")
        for n, a in cur.items():
            if np.shape(state[n]) != a.shape:
                raise ValueError(f"{type(self).__name__} state {n!r} has shape {np.shape(state[n])}, expected {a.shape}")
        for n, a in cur.items():
            a[...] = np.asarray(state[n], a.dtype)

    def reset(self) -> None:
        self._last_t[0] = NO_TIME
        self._reset()

    def _reset(self) -> None:
        raise NotImplementedError


class Conditioner(StatefulStage):
    """A conditioning stage: ``process(data[n, C], t_us[n]) -> float32[n, C]``, causal, chunk-invariant.

    A stage declares its keys beyond ``n_channels`` and ``rate_hz`` (which the encoder gives it) as a class
    `PARAMS` (`spikestream.params.Params`; none: ``Params()``): the pipeline loader checks a
    ``conditioning = [{kind = ..., ...}]`` table against them before any node starts, and the stage reads its
    values through `declared` (the same declaration: defaults, ranges). A stage without `PARAMS` (a plugin's)
    is checked at load by its constructor's keywords (`spikestream._kinds`)."""

    kind = "?"  # set by `_registry.register`
    PARAMS: Params  # declared by each stage (not here: a subclass without one is not taken to have no keys)

    def declared(self, kw: dict[str, Any]) -> dict[str, Any]:
        """`kw` checked against `PARAMS`, the defaults filled in (a ParamError names the kind and the key)."""
        return validate(kw, type(self).PARAMS, self.kind)

    def __init__(self, n_channels: int, rate_hz: float):
        super().__init__()
        if int(n_channels) < 1:
            raise ValueError(f"{type(self).__name__}: n_channels must be >= 1, got {n_channels}")
        if not (np.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"{type(self).__name__}: rate_hz must be > 0, got {rate_hz}")
        self.n_channels = int(n_channels)
        self.rate_hz = float(rate_hz)

    def process(self, data, t_us) -> np.ndarray:
        data, t_us = check_chunk(data, t_us, self.n_channels, int(self._last_t[0]))
        out = np.empty_like(data)
        if t_us.size:
            self._process(data, out)
            self._last_t[0] = t_us[-1]
        return out

    def _process(self, data: np.ndarray, out: np.ndarray) -> None:
        raise NotImplementedError
