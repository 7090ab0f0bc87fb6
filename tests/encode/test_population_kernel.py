"""The population kernel (recurrence vectorised over channels, blocks of samples, vectorised exp) against
the plain per-channel recurrence it replaced: bit-identical spikes and state with the same exp
(`_fastmath.exp`), and with libm's exp identical spikes and integrators within the bound that the fast
exp's error (``ERR_BOUND``) allows; and against the direct-exp reference on long random signals,
including values far outside the receptive fields' range."""

import numpy as np
import pytest
from numba import njit

import encode_reference as ref
from spikestream.encode._fastmath import ERR_BOUND, exp
from spikestream.encode.population import PopulationEncoder
from spikestream.testing import encode_in_chunks

FS = 10_000.0


@njit
def _libm_exp(x):
    return np.exp(x)


def _make_recurrence(expf):
    @njit(error_model="numpy")
    def per_channel_recurrence(data, t_us, mu0, delta, k2, p_max, acc, act, out_idx, out_t):
        """The previous kernel: per value, per channel, branchy recurrences from the nearest centre."""
        n, c_n = data.shape
        nm = act.shape[0]
        q = np.exp(-2.0 * k2 * delta * delta)
        cdd = np.exp(-k2 * delta * delta)
        m = 0
        for i in range(n):
            for c in range(c_n):
                x = np.float64(data[i, c])
                js = int(np.floor(min(max((x - mu0) / delta + 0.5, 0.0), nm - 1.0)))
                d = x - (mu0 + js * delta)
                act[js] = expf(-k2 * d * d)
                e = expf(2.0 * k2 * d * delta)
                r = e * cdd
                for j in range(js, nm - 1):
                    act[j + 1] = act[j] * r
                    r *= q
                r = cdd / e
                for j in range(js, 0, -1):
                    act[j - 1] = act[j] * r
                    r *= q
                for j in range(nm):
                    a = acc[c, j] + act[j] * p_max
                    if a >= 1.0:
                        a -= 1.0
                        out_idx[m] = c * nm + j
                        out_t[m] = t_us[i]
                        m += 1
                    acc[c, j] = a
        return m
    return per_channel_recurrence


_fast_recurrence = _make_recurrence(exp)
_libm_recurrence = _make_recurrence(_libm_exp)


def _walk(rng, n, c, lo, hi, outliers=0.02):
    x = lo + (hi - lo) * (0.5 + 0.8 * np.cumsum(rng.standard_normal((n, c)), 0) / np.sqrt(n))
    wild = rng.random((n, c)) < outliers
    x[wild] = rng.uniform(lo - 3 * (hi - lo), hi + 3 * (hi - lo), wild.sum())
    return x.astype(np.float32), np.arange(n, dtype=np.int64) * 100


@pytest.mark.parametrize("seed", range(6))
def test_bit_identical_to_the_per_channel_recurrence(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.choice([1, 3, 8, 64, 100, 300]))  # block sizes that do and do not divide 256, and C > 256
    m = int(rng.integers(3, 14))  # groups of four centres and every remainder
    lo = float(rng.uniform(-3, 1))
    hi = lo + float(rng.uniform(0.1, 5))
    n = 60_000 // c + 500
    x, t = _walk(rng, n, c, lo, hi)
    kw = dict(rate_hz=FS, n_neurons=m, lo=lo, hi=hi, beta=float(rng.uniform(0.5, 4)),
              max_rate_hz=float(rng.uniform(10, FS)))
    enc = PopulationEncoder(c, **kw)
    i, tt = encode_in_chunks(enc, x, t, rng, 700)  # in random chunks: block boundaries fall anywhere
    assert i.size > 100
    args = (x, t, float(enc.mu[0]), enc._delta, enc.inv2s2, enc.p_max)
    for recurrence in (_fast_recurrence, _libm_recurrence):
        acc = np.zeros((c, m))
        oi, ot = np.empty(x.size * m, np.int32), np.empty(x.size * m, np.int64)
        k = recurrence(*args, acc, np.zeros(m), oi, ot)
        np.testing.assert_array_equal(i, oi[:k])
        np.testing.assert_array_equal(tt, ot[:k])
        if recurrence is _fast_recurrence:
            np.testing.assert_array_equal(enc.acc, acc)  # the integrators too, bit for bit
        else:
            # libm's exp differs in the last bits: per sample an activation (a product of up to M factors
            # from two exps) differs by at most (M + 1) (ERR_BOUND + 2 eps) relative, and the two sums round
            # differently by at most eps
            eps = np.finfo(np.float64).eps
            bound = n * (enc.p_max * (m + 1) * (ERR_BOUND + 2 * eps) + eps)
            assert np.max(np.abs(enc.acc - acc)) <= bound


@pytest.mark.parametrize("m,lo,hi,beta,max_rate", [(8, 0.0, 1.0, 1.5, 500.0), (7, -2.0, 3.0, 2.5, 2000.0)])
def test_long_random_signal_matches_reference(m, lo, hi, beta, max_rate):
    rng = np.random.default_rng(m)
    x, t = _walk(rng, 12_000, 2, lo, hi)
    i, tt = PopulationEncoder(2, rate_hz=FS, n_neurons=m, lo=lo, hi=hi, beta=beta, max_rate_hz=max_rate).encode(x, t)
    ri, rt = ref.population_reference(x, t, FS, m, lo, hi, beta, max_rate)
    assert i.size > 500
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(tt, rt)


def test_huge_values_give_no_nan_and_match_reference():
    """A value 100 below the range divided by zero in the previous kernel; 1e30 made its integrators NaN."""
    rng = np.random.default_rng(5)
    x, t = _walk(rng, 3000, 2, 0.0, 1.0, outliers=0.0)
    for v in (-100.0, 100.0, -1e30, 1e30, -3e38, 3e38):
        x[rng.integers(0, 3000, 20), rng.integers(0, 2, 20)] = v
    enc = PopulationEncoder(2, rate_hz=FS, n_neurons=8, max_rate_hz=900)
    i, tt = enc.encode(x, t)
    assert np.isfinite(enc.acc).all()
    ri, rt = ref.population_reference(x, t, FS, 8, 0.0, 1.0, 1.5, 900)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(tt, rt)


@pytest.mark.parametrize("kw,match", [(dict(n_neurons=64), "n_neurons"), (dict(beta=31), "beta"), (dict(beta=0), "beta")])
def test_limits_of_the_kernel_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        PopulationEncoder(2, rate_hz=FS, **kw)
