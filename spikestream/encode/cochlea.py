"""A cochlea-like front end for audio (after Lyon 1982; Slaney 1993; Liu & Delbruck's silicon cochleae).

Each input channel is split by ``n_bands`` band-pass filters with centre frequencies spaced evenly on the
ERB-rate scale between ``f_lo`` and ``f_hi`` (Glasberg & Moore 1990, ``ERB(f) = 24.7 (4.37 f/1000 + 1)``):
``filters="gammatone"`` uses scipy's 4th-order IIR gammatone (Slaney's design), ``"butter"`` a 2nd-order
Butterworth band-pass one ERB wide. Each band output is half-wave rectified, compressed ``y = (gain *
max(v, 0)) ** exponent`` (inner-hair-cell-like, ``exponent`` 0.3 ~ loudness), and drives an
integrate-and-fire neuron: ``acc += y``, spike and subtract ``threshold`` when ``acc >= threshold``
(at most one spike per sample). Neuron ``c * n_bands + b``; band b rises in frequency.

The kernel is vectorised over filters throughout, the compression included: it uses
`spikestream.encode._fastmath.pow_pos`, within ``ERR_BOUND`` = 1e-15 (relative) of the exact value
like libm's ``pow``, but not bit-identical to it; the filter states are bit-identical to the plain per-filter loop,
the spikes identical on the long random signals of tests/encode/test_cochlea_kernel.py. Most of its
time is the compression: ~12 of ~17 cycles per filter and sample (docs/encoders.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from spikestream.encode._base import Encoder, SpikeBuffer
from spikestream.encode._fastmath import pow_pos_exp, pow_pos_log
from spikestream.encode.rate import check_rate
from spikestream.registry import ENCODERS


def erb_space(f_lo: float, f_hi: float, n: int) -> np.ndarray:
    """``n`` centre frequencies evenly spaced in ERB-rate between f_lo and f_hi (Hz)."""
    e = lambda f: 21.4 * np.log10(1 + 0.00437 * f)  # noqa: E731
    inv = lambda v: (10 ** (v / 21.4) - 1) / 0.00437  # noqa: E731
    return inv(np.linspace(e(f_lo), e(f_hi), n))


def cochlea_sos(f_lo: float, f_hi: float, n_bands: int, rate_hz: float, filters: str) -> tuple[np.ndarray, np.ndarray]:
    """Second-order sections ``[n_bands, S, 6]`` for the bank and the centre frequencies."""
    from scipy import signal  # here, not at the top: 0.8 s of import a node without filters should not pay
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


_TU = np.uint64(8)  # samples per block: the biquads keep their coefficients and state in registers over them
_KB_MAX = 128  # filters per block at most (a block's coefficients, states and samples stay in L1)


@njit(inline="always")
def _fill(data, t0, tu, vb, k0, kb, nb, kk):
    """``vb[t * kb + l] = data[t0 + t, (k0 + l) // nb]`` for ``t < tu`` (0 for padding lanes, ``k0 + l >= kk``)."""
    c_n = uint64(data.shape[1])
    c1 = min((k0 + kb + nb - uint64(1)) // nb, c_n)
    for t in range(tu):
        o = t * kb
        for c in range(k0 // nb, c1):
            x = np.float64(data[t0 + t, c])
            for l in range(max(c * nb, k0) - k0, min(c * nb + nb, k0 + kb) - k0):
                vb[o + l] = x
        for l in range(max(kk, k0) - k0, kb):
            vb[o + l] = 0.0


@njit(inline="always")
def _biquads(coef, z0, z1, vb, o, k0, kb, tu):
    """The cascade of filters ``k0 .. k0 + kb`` on ``tu`` samples ``vb[o + t * kb + l]``, in place. With ``tu``
    a constant the sample loop unrolls, so the lane loop is innermost and vectorises while each lane's
    coefficients and state stay in registers across the samples (transposed direct form II, as sosfilt)."""
    for s in range(uint64(coef.shape[0])):
        for l in range(kb):
            k = k0 + l
            b0, b1, b2, a1, a2 = coef[s, 0, k], coef[s, 1, k], coef[s, 2, k], coef[s, 4, k], coef[s, 5, k]
            p, q = z0[s, k], z1[s, k]
            for t in range(tu):
                j = o + t * kb + l
                x = vb[j]
                y = b0 * x + p
                p = b1 * x - a1 * y + q
                q = b2 * x - a2 * y
                vb[j] = y
            z0[s, k], z1[s, k] = p, q


@njit(inline="always")
def _fire(acc, vb, fl, k0, kb, tu, thr):
    """Integrate-and-fire of lanes ``k0 .. k0 + kb`` on ``tu`` samples of input ``vb[t * kb + l]``: at most one
    spike per sample (the excess is dropped); ``fl[t, k]`` = fired. (Sample-major: each lane's chain of
    compares is serial, so lanes rather than samples fill the pipeline.)"""
    for t in range(tu):
        for l in range(kb):
            k = k0 + l
            a = acc[k] + vb[t * kb + l]
            f = a >= thr
            a1 = a - thr if f else a
            acc[k] = 0.0 if a1 >= thr else a1  # a1 >= thr only if it fired: a < thr otherwise
            fl[t, k] = f


@njit(cache=True, error_model="numpy")
def _cochlea_kernel(data, t_us, coef, z0, z1, gain, exponent, thr, acc, nb, kb, vb, yl, fl, fl64, out_idx, out_t):
    """Filters in blocks of ``kb`` lanes (``k = c * nb + b``, padded to a multiple of kb with all-zero
    coefficients), samples in blocks of ``_TU``: per block, the biquads (`_biquads`), the compression
    ``(gain * max(v, 0)) ** exponent`` by the vectorised `pow_pos` in two passes over the block (``vb``
    holds the values, ``yl`` the low half of ``exponent * log``), then integrate-and-fire (`_fire`), which
    records fired flags in ``fl[t, k]`` (uint8, ``fl64`` its uint64 view); spikes are listed from the flags
    once all blocks of a sample block are done, by sample, then neuron. Indices are unsigned so that Numba
    adds no negative-index wraparound, which would keep LLVM from vectorising. Every value goes through the
    same operations whatever the chunking, so the output is chunk-invariant bit for bit."""
    u = uint64
    n, kp, nbu, kbu = u(data.shape[0]), u(acc.shape[0]), u(nb), u(kb)
    kk = u(data.shape[1]) * nbu
    m = 0
    for t0 in range(u(0), n, _TU):
        tu = min(_TU, n - t0)
        for k0 in range(u(0), kp, kbu):
            _fill(data, t0, tu, vb, k0, kbu, nbu, kk)
            if tu == _TU:
                _biquads(coef, z0, z1, vb, u(0), k0, kbu, _TU)
            else:
                for t in range(tu):
                    _biquads(coef, z0, z1, vb, t * kbu, k0, kbu, u(1))
            w = tu * kbu
            for j in range(w):
                v = vb[j]
                vb[j], yl[j] = pow_pos_log(gain * v if v > 0.0 else 0.0, exponent)
            for j in range(w):
                vb[j] = pow_pos_exp(vb[j], yl[j], exponent)
            _fire(acc, vb, fl, k0, kbu, tu, thr)
        for t in range(tu):
            ti = t_us[t0 + t]
            for i in range(kp // u(8)):
                f8 = fl64[t, i]
                if f8 != 0:  # eight flags at once; spikes are sparse
                    for b in range(u(8)):
                        out_idx[m] = np.int32(i * u(8) + b)
                        out_t[m] = ti
                        m += np.int64((f8 >> (b * u(8))) & u(1))
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
        ns, kk = self.sos.shape[1], self.n_outputs
        nblk = -(-kk // _KB_MAX)
        self._kb = 8 * -(-kk // (8 * nblk))  # lanes per block: a multiple of 8, as little padding as possible
        kp = nblk * self._kb
        self._coef = np.zeros((ns, 6, kp))  # [section, b0 b1 b2 a0 a1 a2, filter]; padding filters are all-zero
        self._coef[:, :, :kk] = np.tile(self.sos.transpose(1, 2, 0), (1, 1, self.n_inputs))
        self._z0, self._z1, self._acc = np.zeros((ns, kp)), np.zeros((ns, kp)), np.zeros(kp)
        self._vb, self._yl = np.zeros(int(_TU) * self._kb), np.zeros(int(_TU) * self._kb)
        self._fl = np.zeros((int(_TU), kp), np.uint8)
        self._fl64 = self._fl.view(np.uint64)
        self._buf = SpikeBuffer()

    # the state, in the layout it always had (views: set_state writes through them)
    z0 = property(lambda self: self._z0[:, : self.n_outputs], doc="biquad state z0 ``[section, filter]``")
    z1 = property(lambda self: self._z1[:, : self.n_outputs], doc="biquad state z1 ``[section, filter]``")
    acc = property(lambda self: self._acc[: self.n_outputs], doc="integrators ``[filter]``")

    def _reset(self) -> None:
        self._z0[:] = 0.0
        self._z1[:] = 0.0
        self._acc[:] = 0.0

    def _encode(self, data, t_us):
        self._buf.ensure(t_us.size * self.n_outputs + 8)
        m = _cochlea_kernel(data, t_us, self._coef, self._z0, self._z1, self.gain, self.exponent, self.threshold,
                            self._acc, self.sos.shape[0], self._kb, self._vb, self._yl, self._fl, self._fl64,
                            self._buf.idx, self._buf.t)
        return self._buf.take(m)
