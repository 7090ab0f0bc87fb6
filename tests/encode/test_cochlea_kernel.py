"""The cochlea kernel (filters in blocks of lanes, samples in blocks of eight, vectorised `pow_pos`) against
the plain per-filter loop it replaced, on long random signals in random chunks, for both filter designs and
several bank sizes (one block, several blocks, padding lanes): with the same pow, bit-identical spikes and
state; with libm's ``**`` (the previous kernel), identical spikes, bit-identical filter states (the biquads
did not change) and integrators within the bound that `pow_pos`'s error (``ERR_BOUND``) allows. (scipy's
sosfilt, the peer in test_encoders, rounds differently, so that comparison allows a spike's jitter.)"""

import numpy as np
import pytest
from numba import njit

from spikestream.encode._fastmath import ERR_BOUND, pow_pos
from spikestream.encode.cochlea import CochleaEncoder
from spikestream.testing import encode_in_chunks

FS = 10_000.0


@njit
def _libm_pow(x, p):
    return x ** p


def _make_per_filter_loop(powf):
    @njit
    def per_filter_loop(data, t_us, coef, z0, z1, gain, exponent, thr, acc, v, ymax, out_idx, out_t):
        """The previous kernel: biquad cascades vectorised over filters, then a branchy loop per filter."""
        n, c_n = data.shape
        ns, kk = coef.shape[0], coef.shape[2]
        nb = kk // c_n
        m = 0
        for i in range(n):
            for c in range(c_n):
                for b in range(nb):
                    v[c * nb + b] = np.float64(data[i, c])
            for s in range(ns):
                for k in range(kk):
                    x = v[k]
                    y = coef[s, 0, k] * x + z0[s, k]
                    z0[s, k] = coef[s, 1, k] * x - coef[s, 4, k] * y + z1[s, k]
                    z1[s, k] = coef[s, 2, k] * x - coef[s, 5, k] * y
                    v[k] = y
            for k in range(kk):
                if v[k] > 0.0:
                    y = powf(gain * v[k], exponent)
                    ymax[0] = max(ymax[0], y)
                    acc[k] += y
                if acc[k] >= thr:
                    acc[k] -= thr
                    if acc[k] >= thr:
                        acc[k] = 0.0
                    out_idx[m] = k
                    out_t[m] = t_us[i]
                    m += 1
        return m
    return per_filter_loop


_fast_loop = _make_per_filter_loop(pow_pos)
_libm_loop = _make_per_filter_loop(_libm_pow)


@pytest.mark.parametrize("c,bands,filters,gain,threshold", [
    (1, 16, "gammatone", 1.0, 4.0), (2, 24, "butter", 30.0, 1.0), (5, 7, "gammatone", 200.0, 0.5),
    (9, 3, "butter", 5.0, 2.0), (3, 100, "butter", 2.0, 3.0), (64, 16, "butter", 1.0, 4.0)])
def test_matches_the_per_filter_loop(c, bands, filters, gain, threshold):
    rng = np.random.default_rng(bands)
    n = max(40_000 // c, 2000)
    k = np.arange(n)[:, None]
    x = 0.3 * np.sin(2 * np.pi * (100 + 3000 * k / n) * k / FS + np.arange(c)) + 0.1 * rng.standard_normal((n, c))
    x[rng.random((n, c)) < 0.001] *= 100  # clicks
    x = x.astype(np.float32)
    t = np.arange(n, dtype=np.int64) * 100
    kw = dict(rate_hz=FS, n_bands=bands, f_lo=80, filters=filters, gain=gain, threshold=threshold)
    enc = CochleaEncoder(c, **kw)
    i, tt = encode_in_chunks(enc, x, t, rng, 500)  # sample blocks of eight and their remainders fall anywhere
    assert i.size > 200
    for loop in (_fast_loop, _libm_loop):
        ref = CochleaEncoder(c, **kw)
        oi, ot = np.empty(x.size * bands, np.int32), np.empty(x.size * bands, np.int64)
        ymax = np.zeros(1)
        m = loop(x, t, np.ascontiguousarray(ref._coef[:, :, :ref.n_outputs]), ref.z0, ref.z1, ref.gain, ref.exponent,
                 ref.threshold, ref.acc, np.zeros(ref.n_outputs), ymax, oi, ot)
        np.testing.assert_array_equal(i, oi[:m])
        np.testing.assert_array_equal(tt, ot[:m])
        np.testing.assert_array_equal(enc.z0, ref.z0)
        np.testing.assert_array_equal(enc.z1, ref.z1)
        if loop is _fast_loop:
            np.testing.assert_array_equal(enc.acc, ref.acc)
        else:
            # per sample the compressed value differs by at most (ERR_BOUND + eps) relative from libm's, and
            # the two sums round differently by at most an ulp of (threshold + that value)
            eps = np.finfo(np.float64).eps
            bound = n * (ymax[0] * (ERR_BOUND + eps) + eps * (threshold + ymax[0]))
            assert np.max(np.abs(enc.acc - ref.acc)) <= bound


def test_state_keeps_its_layout():
    """The state is saved as it always was, ``z0``/``z1`` ``[section, filter]`` and ``acc`` ``[filter]``
    (the kernel pads filters to a multiple of its block): states saved before still load."""
    enc = CochleaEncoder(3, rate_hz=FS, n_bands=7, filters="gammatone")
    x = np.random.default_rng(1).standard_normal((300, 3)).astype(np.float32)
    t = np.arange(300, dtype=np.int64) * 100
    enc.encode(x[:150], t[:150])
    st = enc.get_state()
    ns = enc.sos.shape[1]
    assert st["z0"].shape == st["z1"].shape == (ns, 21) and st["acc"].shape == (21,)
    assert enc._z0.shape[1] > 21  # padded inside
    enc2 = CochleaEncoder(3, rate_hz=FS, n_bands=7, filters="gammatone")
    enc2.set_state(st)
    a, b = enc.encode(x[150:], t[150:]), enc2.encode(x[150:], t[150:])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not enc2._z0[:, 21:].any() and not enc2._acc[21:].any()
