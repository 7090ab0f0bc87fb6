"""Spike features for decoders: exponentially filtered rates and box-window counts.

Both are causal, stateful and chunk-invariant: the features read at time ``T`` depend only on the spikes
before ``T``, never on how the stream was cut into packets.

Exponential rate (per neuron ``j``, spikes at ``t_k``)::

    r_j(T) = (1/tau) * sum_{t_k < T} exp(-(T - t_k) / tau)       [spikes/s]

kept as ``(r_j at its last spike, time of that spike)`` and decayed exactly by source time when read, so a
read does not change the state. Box counts: ``c_j(T) = #{k : T - W <= t_k < T}``, kept with a bounded ring
of recent spikes (overflow evicts the oldest spike early and is counted in ``evicted``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from spikestream.arraycheck import increasing, min_max


@njit(cache=True)
def _exp_add(r, tl, idx, t, inv_tau_us, amp):
    for i in range(idx.size):
        j = idx[i]
        r[j] = r[j] * math.exp(-(t[i] - tl[j]) * inv_tau_us) + amp
        tl[j] = t[i]


@njit(cache=True)
def _exp_read(r, tl, until_us, inv_tau_us, out):
    for j in range(r.size):
        out[j] = r[j] * math.exp(-(until_us - tl[j]) * inv_tau_us)


@njit(cache=True)
def _box_push_pop(ring_i, ring_t, hs, counts, idx, t, start_us):
    """Push spikes into the ring, then pop those older than ``start_us``. ``hs`` = [head, size, evicted]."""
    cap = ring_i.size
    for k in range(idx.size):
        if hs[1] == cap:  # full: evict the oldest early
            counts[ring_i[hs[0]]] -= 1
            hs[0] = (hs[0] + 1) % cap
            hs[1] -= 1
            hs[2] += 1
        pos = (hs[0] + hs[1]) % cap
        ring_i[pos] = idx[k]
        ring_t[pos] = t[k]
        counts[idx[k]] += 1
        hs[1] += 1
    while hs[1] > 0 and ring_t[hs[0]] < start_us:
        counts[ring_i[hs[0]]] -= 1
        hs[0] = (hs[0] + 1) % cap
        hs[1] -= 1


def check_spikes(idx: np.ndarray, t_us: np.ndarray, until_us: int, n_inputs: int, last_until: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate one packet for a decoder; returns contiguous int64 arrays. Raises ValueError on bad input."""
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    t_us = np.ascontiguousarray(t_us, dtype=np.int64)
    if idx.ndim != 1 or idx.shape != t_us.shape:
        raise ValueError(f"spikes: idx {idx.shape} and t_us {t_us.shape} must be equal 1-d shapes")
    if until_us < last_until:
        raise ValueError(f"decode: until_us {until_us} goes back before the previous {last_until}")
    if idx.size:
        lo, hi = min_max(idx)
        if lo < 0 or hi >= n_inputs:
            raise ValueError(f"spikes: neuron index outside [0, {n_inputs})")
        if t_us[0] < last_until or t_us[-1] >= until_us or (idx.size > 1 and not increasing(t_us, strict=False)):
            raise ValueError(f"spikes: times must be sorted within [{last_until}, {until_us})")
    return idx, t_us


class ExpRates:
    """Exponentially filtered rates (spikes/s) with time constant ``tau_ms``."""

    def __init__(self, n: int, tau_ms: float):
        if not (n > 0):
            raise ValueError(f"n_inputs must be positive, got {n}")
        if not (tau_ms > 0 and math.isfinite(tau_ms)):
            raise ValueError(f"tau_ms must be positive and finite, got {tau_ms}")
        self.n = int(n)
        self.tau_ms = float(tau_ms)
        self._inv_tau_us = 1.0 / (tau_ms * 1e3)
        self._amp = 1e3 / tau_ms  # 1/tau in 1/s
        self.r = np.zeros(self.n)
        self.tl = np.zeros(self.n, np.int64)

    def add(self, idx: np.ndarray, t_us: np.ndarray) -> None:
        _exp_add(self.r, self.tl, idx, t_us, self._inv_tau_us, self._amp)

    def read(self, until_us: int, out: np.ndarray) -> np.ndarray:
        _exp_read(self.r, self.tl, np.int64(until_us), self._inv_tau_us, out)
        return out

    def reset(self, t_us: int) -> None:
        """Forget all spikes; the stream (re)starts at ``t_us``."""
        self.r[:] = 0.0
        self.tl[:] = t_us

    def get_state(self) -> dict[str, np.ndarray]:
        return {"r": self.r.copy(), "tl": self.tl.copy()}

    def set_state(self, s: dict[str, np.ndarray]) -> None:
        set_arrays(self, s, {"r": (self.n,), "tl": (self.n,)})


class BoxCounts:
    """Spike counts per neuron in the window ``[T - window_ms, T)``; ``capacity`` recent spikes kept."""

    def __init__(self, n: int, window_ms: float, capacity: int = 1 << 16):
        if not (n > 0):
            raise ValueError(f"n_inputs must be positive, got {n}")
        if not (window_ms > 0 and math.isfinite(window_ms)):
            raise ValueError(f"window_ms must be positive and finite, got {window_ms}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.n = int(n)
        self.window_us = int(round(window_ms * 1e3))
        self.ring_i = np.zeros(int(capacity), np.int64)
        self.ring_t = np.zeros(int(capacity), np.int64)
        self.hs = np.zeros(3, np.int64)  # head, size, evicted
        self.counts = np.zeros(self.n, np.int64)

    @property
    def evicted(self) -> int:
        return int(self.hs[2])

    def advance(self, idx: np.ndarray, t_us: np.ndarray, until_us: int) -> np.ndarray:
        _box_push_pop(self.ring_i, self.ring_t, self.hs, self.counts, idx, t_us, np.int64(until_us - self.window_us))
        return self.counts

    def reset(self, t_us: int) -> None:
        """Forget all spikes (the eviction count is kept)."""
        self.hs[:2] = 0
        self.counts[:] = 0

    def get_state(self) -> dict[str, np.ndarray]:
        return {"ring_i": self.ring_i.copy(), "ring_t": self.ring_t.copy(), "hs": self.hs.copy(), "counts": self.counts.copy()}

    def set_state(self, s: dict[str, np.ndarray]) -> None:
        cap = self.ring_i.size
        set_arrays(self, s, {"ring_i": (cap,), "ring_t": (cap,), "hs": (3,), "counts": (self.n,)})


def set_arrays(obj: object, s: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], prefix: str = "") -> None:
    """Copy ``s[prefix + name]`` into ``obj.name`` after checking every shape (ValueError on mismatch)."""
    for name, shape in shapes.items():
        key = prefix + name
        if key not in s:
            raise ValueError(f"state lacks {key!r}")
        a = np.asarray(s[key])
        if a.shape != tuple(shape):
            raise ValueError(f"state {key!r} has shape {a.shape}, expected {tuple(shape)}")
    for name in shapes:
        cur = getattr(obj, name)
        if isinstance(cur, np.ndarray):
            cur[...] = np.asarray(s[prefix + name], dtype=cur.dtype)
        else:
            setattr(obj, name, np.array(s[prefix + name]))
