"""Temporal-contrast encoders in the taxonomy of Petro et al. (2020, IEEE TNNLS 31(7)), after Kasabov et
al. (2016). Each channel c drives UP (2c) and DOWN (2c+1).

- **step_forward** (SF): a baseline starts at the first sample; ``x > base + threshold`` fires UP and
  raises the baseline by ``threshold``; ``x < base - threshold`` fires DOWN and lowers it. Decoded by
  ``x0 + threshold * (UP - DOWN)`` cumulated (`decode_step_forward`).
- **moving_window** (MW): the baseline is the mean of the previous ``window`` samples (fewer at the start);
  ``x > base + threshold`` fires UP, ``x < base - threshold`` DOWN.
- **tbr** (threshold-based representation): ``d = x[k] - x[k-1]``; with the running (exponentially
  weighted, factor ``alpha``) mean ``m`` and std ``s`` of ``d`` over the *past* samples, ``d > m + factor*s``
  fires UP and ``d < -(m + factor*s)`` DOWN. Silent for the first ``warmup`` differences. Kasabov's TBR
  uses whole-signal statistics, which no causal stream has; these running ones replace them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.encode._base import Encoder, SpikeBuffer
from spikestream.encode.delta import decode_delta
from spikestream.registry import ENCODERS


def _thr(what: str, threshold, n: int) -> np.ndarray:
    thr = np.atleast_1d(np.asarray(threshold, np.float64))
    if thr.ndim != 1 or thr.size not in (1, n) or not np.all(np.isfinite(thr)) or np.any(thr <= 0):
        raise ValueError(f"{what}: threshold must be > 0, one number or one per channel ({n}), got {threshold}")
    return np.broadcast_to(thr, (n,)).copy()


def _check_n(what: str, n) -> int:
    if int(n) < 1:
        raise ValueError(f"{what}: n_channels must be >= 1, got {n}")
    return int(n)


@njit(cache=True)
def _sf_kernel(data, t_us, thr, base, started, out_idx, out_t):
    n, c_n = data.shape
    m = 0
    for i in range(n):
        for c in range(c_n):
            x = np.float64(data[i, c])
            if not started[c]:
                base[c] = x
                started[c] = 1
            if x > base[c] + thr[c]:
                base[c] += thr[c]
                out_idx[m] = 2 * c
                out_t[m] = t_us[i]
                m += 1
            elif x < base[c] - thr[c]:
                base[c] -= thr[c]
                out_idx[m] = 2 * c + 1
                out_t[m] = t_us[i]
                m += 1
    return m


@ENCODERS.register("step_forward")
class StepForwardEncoder(Encoder):
    _state_names = ("base", "started")

    def __init__(self, n_channels: int, threshold=0.1):
        n = _check_n("step_forward", n_channels)
        super().__init__(n, 2 * n)
        self.thr = _thr("step_forward", threshold, n)
        self.base = np.zeros(n)
        self.started = np.zeros(n, np.uint8)
        self._buf = SpikeBuffer()

    def _reset(self) -> None:
        self.base[:] = 0.0
        self.started[:] = 0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size)
        m = _sf_kernel(data, t_us, self.thr, self.base, self.started, self._buf.idx, self._buf.t)
        return self._buf.take(m)


def decode_step_forward(idx, t_us, sample_t_us, n_channels: int, threshold, x0=0.0) -> np.ndarray:
    """``x0 + threshold * cumulative (UP - DOWN)`` at each sample time."""
    return decode_delta(idx, t_us, sample_t_us, n_channels, threshold, x0)


@njit(cache=True)
def _mw_kernel(data, t_us, thr, ring, pos, count, total, out_idx, out_t):
    n, c_n = data.shape
    w = ring.shape[0]
    m = 0
    for i in range(n):
        p = pos[0]
        cnt = count[0]
        for c in range(c_n):
            x = np.float64(data[i, c])
            if cnt > 0:
                base = total[c] / cnt
                if x > base + thr[c]:
                    out_idx[m] = 2 * c
                    out_t[m] = t_us[i]
                    m += 1
                elif x < base - thr[c]:
                    out_idx[m] = 2 * c + 1
                    out_t[m] = t_us[i]
                    m += 1
            if cnt == w:
                total[c] -= ring[p, c]
            ring[p, c] = x
            total[c] += x
        pos[0] = (p + 1) % w
        if cnt < w:
            count[0] = cnt + 1
    return m


@ENCODERS.register("moving_window")
class MovingWindowEncoder(Encoder):
    _state_names = ("ring", "pos", "count", "total")

    def __init__(self, n_channels: int, threshold=0.1, window: int = 10):
        n = _check_n("moving_window", n_channels)
        if int(window) < 1:
            raise ValueError(f"moving_window: window must be >= 1 sample, got {window}")
        super().__init__(n, 2 * n)
        self.thr = _thr("moving_window", threshold, n)
        self.ring = np.zeros((int(window), n))
        self.pos = np.zeros(1, np.int64)
        self.count = np.zeros(1, np.int64)
        self.total = np.zeros(n)
        self._buf = SpikeBuffer()

    def _reset(self) -> None:
        self.ring[:] = 0.0
        self.pos[:] = 0
        self.count[:] = 0
        self.total[:] = 0.0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size)
        m = _mw_kernel(data, t_us, self.thr, self.ring, self.pos, self.count, self.total, self._buf.idx, self._buf.t)
        return self._buf.take(m)


@njit(cache=True)
def _tbr_kernel(data, t_us, factor, alpha, warmup, prev, mean, var, seen, code, out_idx, out_t):
    """Per sample: one branch-free pass over the channels (which the compiler vectorises) updates the
    statistics and notes each channel's spike in ``code`` (0 none, 1 UP, 2 DOWN); a second pass lists them.
    ``d > mean + factor*std`` is tested without the square root."""
    n, c_n = data.shape
    f2 = factor * factor
    m = 0
    for i in range(n):
        for c in range(c_n):
            x = np.float64(data[i, c])
            s = seen[c]
            first = s == 0  # the first sample only sets prev
            d = x - (x if first else prev[c])
            prev[c] = x
            mu, v = mean[c], var[c]
            up, dn, f2v = d - mu, -d - mu, f2 * v
            armed = s > warmup
            fu = armed & (up > 0.0) & (up * up > f2v)
            fd = armed & (fu == 0) & (dn > 0.0) & (dn * dn > f2v)
            code[c] = np.int64(fu) + 2 * np.int64(fd)
            e = d - mu
            mean[c] = mu if first else (d if s == 1 else mu + alpha * e)
            var[c] = v if first else (0.0 if s == 1 else (1.0 - alpha) * (v + alpha * e * e))
            seen[c] = s + 1
        ti = t_us[i]
        for c in range(c_n):
            k = code[c]
            out_idx[m] = 2 * c + (k == 2)
            out_t[m] = ti
            m += k != 0
    return m


@ENCODERS.register("tbr")
class TBREncoder(Encoder):
    _state_names = ("prev", "mean", "var", "seen")

    def __init__(self, n_channels: int, factor: float = 0.5, alpha: float = 0.01, warmup: int = 10):
        n = _check_n("tbr", n_channels)
        if not (np.isfinite(factor) and factor >= 0):
            raise ValueError(f"tbr: factor must be >= 0, got {factor}")
        if not 0 < alpha <= 1:
            raise ValueError(f"tbr: alpha must be in (0, 1], got {alpha}")
        if int(warmup) < 1:
            raise ValueError(f"tbr: warmup must be >= 1, got {warmup}")
        super().__init__(n, 2 * n)
        self.factor, self.alpha, self.warmup = float(factor), float(alpha), int(warmup)
        self.prev = np.zeros(n)
        self.mean = np.zeros(n)
        self.var = np.zeros(n)
        self.seen = np.zeros(n, np.int64)
        self._code = np.zeros(n, np.int64)
        self._buf = SpikeBuffer()

    def _reset(self) -> None:
        for a in (self.prev, self.mean, self.var, self.seen):
            a[:] = 0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size)
        m = _tbr_kernel(data, t_us, self.factor, self.alpha, self.warmup, self.prev, self.mean, self.var, self.seen,
                        self._code, self._buf.idx, self._buf.t)
        return self._buf.take(m)
