"""Ben's Spiker Algorithm (Schrauwen & Van Campenhout 2003), made causal by a fixed delay.

The input is scaled ``u = (x - lo) / (hi - lo)`` and a FIR filter ``h`` (a Hann window of ``filter_len``
taps with peak ``filter_amp``) is fitted greedily: for the oldest sample ``k`` of the last ``L`` residuals,
``e1 = sum_j |u[k+j] - h[j]|``, ``e2 = sum_j |u[k+j]|``; if ``e1 <= e2 - threshold`` a spike is placed at
``k`` and ``h`` is subtracted from the residual. The decision about sample k needs samples up to
``k + L - 1``, so the spike is emitted then, stamped with that sample's time: a delay of ``L - 1`` samples.
Decoding (`decode_bsa`) convolves the spike train with ``h``, undoing the delay. One neuron per channel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.encode._base import Encoder, SpikeBuffer
from spikestream.encode.rate import check_range
from spikestream.registry import ENCODERS


def bsa_filter(filter_len: int, filter_amp: float) -> np.ndarray:
    return np.hanning(int(filter_len) + 2)[1:-1] * float(filter_amp)


@njit(cache=True)
def _bsa_kernel(data, t_us, lo, inv_span, h, thr, tail, count, work, err, out_idx, out_t):
    """BSA over the carried residual tail (``count[0]`` valid samples, right-aligned in ``tail[c, :]``)
    followed by this chunk, in the time-major workspace ``work[t, c]``; keeps the last L-1 residuals.
    The error sums and the subtraction run over the channels in the innermost loop, which the compiler
    vectorises; each channel's sums still add the taps in order, so the result is the same as one channel
    at a time."""
    n, c_n = data.shape
    L = h.shape[0]
    nt = count[0]
    total = nt + n
    for j in range(nt):
        for c in range(c_n):
            work[j, c] = tail[c, L - 1 - nt + j]
    for i in range(n):
        for c in range(c_n):
            work[nt + i, c] = (np.float64(data[i, c]) - lo) * inv_span
    e1, e2 = err[0], err[1]
    m = 0
    for k in range(total - L + 1):
        ti = t_us[k + L - 1 - nt]
        e1[:] = 0.0
        e2[:] = 0.0
        for j in range(L):
            hj = h[j]
            for c in range(c_n):
                r = work[k + j, c]
                e1[c] += abs(r - hj)
                e2[c] += abs(r)
        for c in range(c_n):  # e1 now holds 1.0 where channel c fires, else 0.0
            e1[c] = 1.0 if e1[c] <= e2[c] - thr else 0.0
        for j in range(L):  # subtract h where fired: x - h*1 and x - h*0 are exact, so no branch is needed
            hj = h[j]
            for c in range(c_n):
                work[k + j, c] -= hj * e1[c]
        for c in range(c_n):
            out_idx[m] = c
            out_t[m] = ti
            m += e1[c] != 0.0
    keep = min(L - 1, total)
    for j in range(keep):
        for c in range(c_n):
            tail[c, L - 1 - keep + j] = work[total - keep + j, c]
    count[0] = keep
    return m


@ENCODERS.register("bsa")
class BSAEncoder(Encoder):
    _state_names = ("tail", "count")

    def __init__(self, n_channels: int, filter_len: int = 16, filter_amp: float = 0.1, threshold: float = 0.0,
                 lo: float = 0.0, hi: float = 1.0):
        if int(n_channels) < 1:
            raise ValueError("bsa: n_channels must be >= 1")
        if not 2 <= int(filter_len) <= 1024:
            raise ValueError(f"bsa: filter_len must be in 2..1024, got {filter_len}")
        if not (np.isfinite(filter_amp) and filter_amp > 0):
            raise ValueError(f"bsa: filter_amp must be > 0, got {filter_amp}")
        if not np.isfinite(threshold):
            raise ValueError("bsa: threshold must be finite")
        check_range("bsa", lo, hi)
        super().__init__(n_channels, n_channels)
        self.h = bsa_filter(filter_len, filter_amp)
        self.lo, self.inv_span, self.threshold = float(lo), 1.0 / (hi - lo), float(threshold)
        self.delay = int(filter_len) - 1
        self.tail = np.zeros((self.n_inputs, self.delay))
        self.count = np.zeros(1, np.int64)
        self._work = np.empty((0, self.n_inputs))
        self._err = np.zeros((2, self.n_inputs))
        self._buf = SpikeBuffer()

    def _reset(self) -> None:
        self.tail[:] = 0.0
        self.count[:] = 0

    def _encode(self, data, t_us):
        need = data.shape[0] + self.delay
        if self._work.shape[0] < need:
            self._work = np.empty((max(need, 2 * self._work.shape[0]), self.n_inputs))
        self._buf.ensure(data.size)
        m = _bsa_kernel(data, t_us, self.lo, self.inv_span, self.h, self.threshold, self.tail, self.count, self._work,
                        self._err, self._buf.idx, self._buf.t)
        return self._buf.take(m)


def decode_bsa(idx, t_us, sample_t_us, n_channels: int, h, delay: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Reconstruct ``float64[n, C]``: each spike, moved back ``delay`` samples, adds ``h`` (then unscaled)."""
    sample_t_us = np.asarray(sample_t_us, np.int64)
    n = sample_t_us.size
    k = np.searchsorted(sample_t_us, np.asarray(t_us, np.int64)) - int(delay)
    train = np.zeros((n, n_channels))
    ok = (k >= 0) & (k < n)
    np.add.at(train, (k[ok], np.asarray(idx, np.int64)[ok]), 1.0)
    out = np.empty((n, n_channels))
    for c in range(n_channels):
        out[:, c] = np.convolve(train[:, c], h)[:n]
    return lo + out * (hi - lo)
