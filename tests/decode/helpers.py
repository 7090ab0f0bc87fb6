"""Spike generators for decoder tests: Poisson neurons cosine- or linearly tuned to a known target."""

from __future__ import annotations

import numpy as np


def poisson_packets(rates_hz: np.ndarray, dt_us: int, seed: int = 0, t_start: int = 0):
    """rates_hz [T, N]: one packet per row -> list of (idx int64[m], t_us int64[m], t0, t1), sorted by time."""
    rng = np.random.default_rng(seed)
    T, N = rates_hz.shape
    out = []
    for i in range(T):
        t0 = t_start + i * dt_us
        cnt = rng.poisson(rates_hz[i] * dt_us / 1e6)
        idx = np.repeat(np.arange(N), cnt)
        t = rng.integers(t0, t0 + dt_us, idx.size)
        o = np.lexsort((idx, t))
        out.append((idx[o].astype(np.int64), t[o].astype(np.int64), t0, t0 + dt_us))
    return out


def concat(packets):
    return (np.concatenate([p[0] for p in packets]), np.concatenate([p[1] for p in packets]))


def rechunk(packets, rng):
    """The same stream cut at random packet boundaries (merging consecutive packets)."""
    out, i = [], 0
    while i < len(packets):
        k = int(rng.integers(1, 6))
        grp = packets[i:i + k]
        out.append((np.concatenate([g[0] for g in grp]), np.concatenate([g[1] for g in grp]), grp[0][2], grp[-1][3]))
        i += k
    return out
