"""The cochlea kernel against the plain per-filter loop it replaced: bit-identical spikes and state on
long random signals, for both filter designs and several bank sizes (scipy's sosfilt, the peer in
test_encoders, rounds differently, so that comparison allows a spike's jitter; this one allows none)."""

import numpy as np
import pytest
from numba import njit

from spikestream.encode.cochlea import CochleaEncoder

FS = 10_000.0


@njit
def _per_filter_loop(data, t_us, coef, z0, z1, gain, exponent, thr, acc, v, out_idx, out_t):
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
                acc[k] += (gain * v[k]) ** exponent
            if acc[k] >= thr:
                acc[k] -= thr
                if acc[k] >= thr:
                    acc[k] = 0.0
                out_idx[m] = k
                out_t[m] = t_us[i]
                m += 1
    return m


@pytest.mark.parametrize("c,bands,filters,gain,threshold", [(1, 16, "gammatone", 1.0, 4.0), (2, 24, "butter", 30.0, 1.0),
                                                           (5, 7, "gammatone", 200.0, 0.5), (9, 3, "butter", 5.0, 2.0)])
def test_bit_identical_to_the_per_filter_loop(c, bands, filters, gain, threshold):
    rng = np.random.default_rng(bands)
    n = 40_000 // c
    k = np.arange(n)[:, None]
    x = 0.3 * np.sin(2 * np.pi * (100 + 3000 * k / n) * k / FS + np.arange(c)) + 0.1 * rng.standard_normal((n, c))
    x[rng.random((n, c)) < 0.001] *= 100  # clicks
    x = x.astype(np.float32)
    t = np.arange(n, dtype=np.int64) * 100
    enc = CochleaEncoder(c, rate_hz=FS, n_bands=bands, f_lo=80, filters=filters, gain=gain, threshold=threshold)
    parts, k0 = [], 0
    while k0 < n:
        step = int(rng.integers(1, 500))
        parts.append(enc.encode(x[k0:k0 + step], t[k0:k0 + step]))
        k0 += step
    i = np.concatenate([p[0] for p in parts])
    tt = np.concatenate([p[1] for p in parts])
    ref = CochleaEncoder(c, rate_hz=FS, n_bands=bands, f_lo=80, filters=filters, gain=gain, threshold=threshold)
    oi, ot = np.empty(x.size * bands, np.int32), np.empty(x.size * bands, np.int64)
    m = _per_filter_loop(x, t, ref._coef, ref.z0, ref.z1, ref.gain, ref.exponent, ref.threshold, ref.acc, ref._v, oi, ot)
    assert i.size > 200
    np.testing.assert_array_equal(i, oi[:m])
    np.testing.assert_array_equal(tt, ot[:m])
    for name in ("z0", "z1", "acc"):
        np.testing.assert_array_equal(getattr(enc, name), getattr(ref, name))
