"""A cochlea-like front end for audio (after Lyon 1982; Slaney 1993; Liu & Delbruck's silicon cochleae).

Each input channel is split by ``n_bands`` band-pass filters with centre frequencies spaced evenly on the
ERB-rate scale between ``f_lo`` and ``f_hi`` (Glasberg & Moore 1990, ``ERB(f) = 24.7 (4.37 f/1000 + 1)``):
``filters="gammatone"`` uses scipy's 4th-order IIR gammatone (Slaney's design), ``"butter"`` a 2nd-order
Butterworth band-pass one ERB wide. Each band output is half-wave rectified, compressed ``y = (gain *
max(v, 0)) ** exponent`` (inner-hair-cell-like, ``exponent`` 0.3 ~ loudness), and drives an
integrate-and-fire neuron: ``acc += y``, spike and subtract ``threshold`` when ``acc >= threshold``
(at most one spike per sample). Neuron ``c * n_bands + b``; band b rises in frequency.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import signal

from spikestream.encode._base import Encoder, SpikeBuffer
from spikestream.encode.rate import check_rate
from spikestream.registry import ENCODERS


def erb_space(f_lo: float, f_hi: float, n: int) -> np.ndarray:
    """``n`` centre frequencies evenly spaced in ERB-rate between f_lo and f_hi (Hz)."""
    e = lambda f: 21.4 * np.log10(1 + 0.00437 * f)  # noqa: E731
    inv = lambda v: (10 ** (v / 21.4) - 1) / 0.00437  # noqa: E731
    return inv(np.linspace(e(f_lo), e(f_hi), n))


def cochlea_sos(f_lo: float, f_hi: float, n_bands: int, rate_hz: float, filters: str) -> tuple[np.ndarray, np.ndarray]:
    """Second-order sections ``[n_bands, S, 6]`` for the bank and the centre frequencies."""
    fc = erb_space(f_lo, f_hi, n_bands)
    secs = []
    for f in fc:
        if filters == "gammatone":
            b, a = signal.gammatone(f, "iir", fs=rate_hz)
            sos = signal.tf2sos(b, a)
        else:
            erb = 24.7 * (4.37 * f / 1000 + 1)
            lo, hi = max(f - erb / 2, 1.0), min(f + erb / 2, 0.499 * rate_hz)
            sos = signal.butter(2, [lo, hi], "bandpass", fs=rate_hz, output="sos")
        secs.append(sos)
    s = max(x.shape[0] for x in secs)
    out = np.zeros((n_bands, s, 6))
    out[:, :, 0] = 1.0
    out[:, :, 3] = 1.0  # pass-through sections pad shorter designs
    for b, x in enumerate(secs):
        out[b, : x.shape[0]] = x
    return out, fc


@njit(cache=True, error_model="numpy")
def _cochlea_kernel(data, t_us, coef, z0, z1, gain, exponent, thr, acc, v, pos, out_idx, out_t):
    """``coef[s, 0:6, k]`` are section s of filter k = c * n_bands + b; the innermost loops run over the
    filters, which are independent, so the compiler can vectorise them (a single biquad is latency-bound).
    The compressive nonlinearity (libm pow) runs only on the filters whose output is positive, gathered
    without a branch into ``pos``; integrate-and-fire and the spike list are branch-free."""
    n, c_n = data.shape
    ns, kk = coef.shape[0], coef.shape[2]
    nb = kk // c_n
    m = 0
    for i in range(n):
        for c in range(c_n):
            x = np.float64(data[i, c])
            for b in range(nb):
                v[c * nb + b] = x
        for s in range(ns):
            for k in range(kk):
                x = v[k]
                y = coef[s, 0, k] * x + z0[s, k]
                z0[s, k] = coef[s, 1, k] * x - coef[s, 4, k] * y + z1[s, k]
                z1[s, k] = coef[s, 2, k] * x - coef[s, 5, k] * y
                v[k] = y
        n_pos = 0
        for k in range(kk):
            pos[n_pos] = k
            n_pos += v[k] > 0.0
        for p in range(n_pos):
            k = pos[p]
            acc[k] += (gain * v[k]) ** exponent
        ti = t_us[i]
        for k in range(kk):  # integrate and fire, at most one spike per sample (the excess is dropped)
            a = acc[k]
            f = a >= thr
            a1 = a - thr if f else a
            acc[k] = 0.0 if a1 >= thr else a1  # a1 >= thr only if it fired: a < thr otherwise
            out_idx[m] = k
            out_t[m] = ti
            m += f
    return m


@ENCODERS.register("cochlea")
class CochleaEncoder(Encoder):
    _state_names = ("z0", "z1", "acc")

    def __init__(self, n_channels: int = 1, rate_hz: float | None = None, n_bands: int = 32, f_lo: float = 100.0,
                 f_hi: float | None = None, filters: str = "gammatone", gain: float = 1.0, exponent: float = 0.3,
                 threshold: float = 4.0):
        rate_hz = check_rate("cochlea", rate_hz)
        f_hi = min(8000.0, 0.45 * rate_hz) if f_hi is None else float(f_hi)
        if not (0 < f_lo < f_hi < rate_hz / 2):
            raise ValueError(f"cochlea: need 0 < f_lo < f_hi < Nyquist ({rate_hz / 2:g} Hz), got {f_lo}, {f_hi}")
        if not 1 <= int(n_bands) <= 512:
            raise ValueError(f"cochlea: n_bands must be in 1..512, got {n_bands}")
        if filters not in ("gammatone", "butter"):
            raise ValueError(f"cochlea: filters must be 'gammatone' or 'butter', got {filters!r}")
        if not (gain > 0 and 0 < exponent <= 1 and threshold > 0):
            raise ValueError("cochlea: need gain > 0, 0 < exponent <= 1, threshold > 0")
        if int(n_channels) < 1:
            raise ValueError("cochlea: n_channels must be >= 1")
        super().__init__(n_channels, int(n_channels) * int(n_bands))
        self.sos, self.centres = cochlea_sos(f_lo, f_hi, int(n_bands), rate_hz, filters)
        self.gain, self.exponent, self.threshold = float(gain), float(exponent), float(threshold)
        ns = self.sos.shape[1]
        self._coef = np.ascontiguousarray(np.tile(self.sos.transpose(1, 2, 0), (1, 1, self.n_inputs)))
        self.z0 = np.zeros((ns, self.n_outputs))
        self.z1 = np.zeros((ns, self.n_outputs))
        self.acc = np.zeros(self.n_outputs)
        self._v = np.zeros(self.n_outputs)
        self._pos = np.zeros(self.n_outputs, np.int64)
        self._buf = SpikeBuffer()

    def _reset(self) -> None:
        self.z0[:] = 0.0
        self.z1[:] = 0.0
        self.acc[:] = 0.0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size * self.sos.shape[0])
        m = _cochlea_kernel(data, t_us, self._coef, self.z0, self.z1, self.gain, self.exponent, self.threshold,
                            self.acc, self._v, self._pos, self._buf.idx, self._buf.t)
        return self._buf.take(m)
