"""Population coding with Gaussian receptive fields (Bohte, Kok & La Poutré 2002).

Each channel feeds ``n_neurons`` = M neurons (index ``c*M + j``) with centres
``mu_j = lo + (2j - 1)/2 * (hi - lo)/(M - 2)``, ``j = 0..M-1`` (Bohte's placement, two centres just outside
the range) and width ``sigma = (hi - lo) / (beta * (M - 2))``. The activation ``a_j = exp(-(x-mu_j)^2 /
(2 sigma^2))`` drives a deterministic integrate-and-fire neuron at up to ``max_rate_hz``: per sample
``acc_j += a_j * max_rate_hz / rate_hz``, spike and subtract 1 when ``acc_j >= 1``. Bohte maps ``a_j`` to
a spike latency instead; a rate keeps the code continuous in a stream. `decode_population` is the
population vector (Georgopoulos 1986): the spike-count-weighted mean of the centres over a causal window.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.encode._base import Encoder, SpikeBuffer
from spikestream.encode._fastmath import exp
from spikestream.encode.rate import check_range, check_rate
from spikestream.registry import ENCODERS


def population_centres(n_neurons: int, lo: float, hi: float) -> np.ndarray:
    j = np.arange(n_neurons)
    return lo + (2 * j - 1) / 2 * (hi - lo) / (n_neurons - 2)


@njit(inline="always")
def _step(j, jk, a0, r0, cu, rr, q):
    """One step of a recurrence that starts at ``jk`` with (a0, r0): ``(a, r) -> (a r, r q)``."""
    s = j == jk
    return (a0 if s else cu * rr), (r0 if s else rr * q)


@njit(inline="always")
def _fire(acc, j, c, v, p_max):
    """Integrate-and-fire of neuron (j, c) on activation ``v``; returns bit j if it fired."""
    a = acc[j, c] + v * p_max
    f = a >= 1.0
    acc[j, c] = a - 1.0 if f else a
    return np.int64(f) << j


@njit(cache=True, error_model="numpy")
def _population_kernel(data, t_us, mu0, delta, k2, p_max, acc, iscr, fscr, act, out_idx, out_t):
    """Gaussian activations by recurrence from the nearest centre ``js`` (2 exps per value, not M):
    ``a[j+1] = a[j] * r[j]``, ``r[j+1] = r[j] * q`` with ``q = exp(-2 k delta^2)``, and likewise downwards.

    Activations do not depend on state, so they are computed for a block of ``B = js.size // C`` samples
    at once, flat over (sample, channel) with selects instead of branches on ``js`` and four centres per
    pass (the recurrence stays in registers), which the compiler vectorises, the two exps included: they
    are `_fastmath.exp` (within ``ERR_BOUND`` = 1e-15 of the exact value, not bit-identical to libm's;
    ``q`` and the constant factor, once per call, are libm's). Each value is the same IEEE operation
    sequence as the plain per-channel recurrence with the same exp, so the spikes are bit-identical to it,
    and on long random signals identical to the libm-exp recurrence too (test_population_kernel.py).
    The upward pass also integrates and fires (``acc`` is ``[M, C]``).
    Scratch: ``iscr = [js, fired]`` and ``fscr = [a0, ru, rd, cur, r]``, rows of ``B*C`` (``fired``: bit j
    set when neuron j fired, needs ``M <= 63``), ``act`` ``[M, B*C]`` (downward values, 0 from ``js`` up)."""
    js, fired = iscr[0], iscr[1]
    a0, ru, rd, cur, r = fscr[0], fscr[1], fscr[2], fscr[3], fscr[4]
    n, c_n = data.shape
    nm = acc.shape[0]
    nb = js.size // c_n
    flat = data.reshape(n * c_n)
    q = np.exp(-2.0 * k2 * delta * delta)
    cdd = np.exp(-k2 * delta * delta)
    m = 0
    for i0 in range(0, n, nb):
        n_s = min(nb, n - i0)
        x_n = n_s * c_n
        base = i0 * c_n
        for k in range(x_n):  # nearest centre (clamped before int(): huge |x| stays defined) and exp arguments
            x = np.float64(flat[base + k])
            j0 = np.floor(min(max((x - mu0) / delta + 0.5, 0.0), nm - 1.0))
            d = x - (mu0 + j0 * delta)
            js[k] = np.int64(j0)
            a0[k] = -k2 * d * d
            ru[k] = 2.0 * k2 * d * delta
        for k in range(x_n):  # vectorised exp (spikestream.encode._fastmath), not libm's
            a0[k] = exp(a0[k])
            ru[k] = exp(ru[k])
        for k in range(x_n):
            e = ru[k]
            ru[k] = e * cdd
            rd[k] = cdd / e
            cur[k] = 0.0
            r[k] = 0.0
            fired[k] = 0
        j = nm - 1  # downwards from js into act (0 for j >= js); lanes with j > js carry zeros
        while j >= 0:
            g = min(j + 1, 4)
            for k in range(x_n):
                jk, a, u, cu, rr = js[k], a0[k], rd[k], cur[k], r[k]
                if g == 4:
                    cu, rr = _step(j, jk, a, u, cu, rr, q)
                    act[j, k] = cu if j < jk else 0.0
                    cu, rr = _step(j - 1, jk, a, u, cu, rr, q)
                    act[j - 1, k] = cu if j - 1 < jk else 0.0
                    cu, rr = _step(j - 2, jk, a, u, cu, rr, q)
                    act[j - 2, k] = cu if j - 2 < jk else 0.0
                    cu, rr = _step(j - 3, jk, a, u, cu, rr, q)
                    act[j - 3, k] = cu if j - 3 < jk else 0.0
                else:
                    for jj in range(j, j - g, -1):
                        cu, rr = _step(jj, jk, a, u, cu, rr, q)
                        act[jj, k] = cu if jj < jk else 0.0
                cur[k], r[k] = cu, rr
            j -= g
        for k in range(x_n):
            cur[k] = 0.0
            r[k] = 0.0
        j = 0  # upwards from js (lanes with j < js carry zeros), plus the downward values: fire
        while j < nm:
            g = min(nm - j, 4)
            for ii in range(n_s):
                o = ii * c_n
                for c in range(c_n):
                    k = o + c
                    jk, a, u, cu, rr = js[k], a0[k], ru[k], cur[k], r[k]
                    if g == 4:
                        cu, rr = _step(j, jk, a, u, cu, rr, q)
                        fb = _fire(acc, j, c, act[j, k] + cu, p_max)
                        cu, rr = _step(j + 1, jk, a, u, cu, rr, q)
                        fb |= _fire(acc, j + 1, c, act[j + 1, k] + cu, p_max)
                        cu, rr = _step(j + 2, jk, a, u, cu, rr, q)
                        fb |= _fire(acc, j + 2, c, act[j + 2, k] + cu, p_max)
                        cu, rr = _step(j + 3, jk, a, u, cu, rr, q)
                        fb |= _fire(acc, j + 3, c, act[j + 3, k] + cu, p_max)
                    else:
                        fb = 0
                        for jj in range(j, j + g):
                            cu, rr = _step(jj, jk, a, u, cu, rr, q)
                            fb |= _fire(acc, jj, c, act[jj, k] + cu, p_max)
                    cur[k], r[k] = cu, rr
                    fired[k] |= fb
            j += g
        for ii in range(n_s):  # spikes by sample, then neuron c * M + j
            for c in range(c_n):
                b = fired[ii * c_n + c]
                if b != 0:  # write every neuron of the channel, keep those that fired (no branch per bit)
                    for jj in range(nm):
                        out_idx[m] = c * nm + jj
                        out_t[m] = t_us[i0 + ii]
                        m += (b >> jj) & 1
    return m


@ENCODERS.register("population")
class PopulationEncoder(Encoder):
    _state_names = ("acc",)

    def __init__(self, n_channels: int, rate_hz: float | None = None, n_neurons: int = 8, lo: float = 0.0,
                 hi: float = 1.0, beta: float = 1.5, max_rate_hz: float = 200.0):
        rate_hz = check_rate("population", rate_hz)
        check_range("population", lo, hi)
        if not 3 <= int(n_neurons) <= 63:
            raise ValueError(f"population: n_neurons must be in 3..63, got {n_neurons}")
        if not 0 < beta <= 30:  # beyond ~37, exp(beta^2 / 2) in the recurrence overflows
            raise ValueError(f"population: beta must be in (0, 30], got {beta}")
        if not 0 < max_rate_hz <= rate_hz:
            raise ValueError(f"population: max_rate_hz must be in (0, rate_hz = {rate_hz:g}], got {max_rate_hz}")
        if int(n_channels) < 1:
            raise ValueError("population: n_channels must be >= 1")
        super().__init__(n_channels, int(n_channels) * int(n_neurons))
        self.mu = population_centres(int(n_neurons), lo, hi)
        sigma = (hi - lo) / (beta * (int(n_neurons) - 2))
        self.inv2s2 = 1.0 / (2 * sigma * sigma)
        self.p_max = max_rate_hz / rate_hz
        nm, c = int(n_neurons), self.n_inputs
        self._acc = np.zeros((nm, c))  # channels innermost for the kernel; `acc` is its [C, M] view
        x_n = max(1, 256 // c) * c  # activations for ~256 values per pass (stays in L1)
        self._scratch = (np.zeros((2, x_n), np.int64), np.zeros((5, x_n)), np.zeros((nm, x_n)))
        self._delta = float(self.mu[1] - self.mu[0])
        self._buf = SpikeBuffer()

    @property
    def acc(self) -> np.ndarray:
        """Integrator state ``[C, M]`` (a view: writes reach the kernel's ``[M, C]`` array)."""
        return self._acc.T

    def _reset(self) -> None:
        self._acc[:] = 0.0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size * self.mu.size)
        m = _population_kernel(data, t_us, float(self.mu[0]), self._delta, self.inv2s2, self.p_max, self._acc,
                               *self._scratch, self._buf.idx, self._buf.t)
        return self._buf.take(m)


def decode_population(idx, t_us, sample_t_us, n_channels: int, centres, window: int = 50) -> np.ndarray:
    """Population vector per channel over the last ``window`` samples (NaN where no spike fell)."""
    centres = np.asarray(centres, np.float64)
    nm = centres.size
    sample_t_us = np.asarray(sample_t_us, np.int64)
    n = sample_t_us.size
    k = np.searchsorted(sample_t_us, np.asarray(t_us, np.int64))
    counts = np.zeros((n + 1, n_channels * nm))
    np.add.at(counts, (k + 1, np.asarray(idx, np.int64)), 1.0)
    cum = np.cumsum(counts, axis=0)
    lag = np.vstack([np.zeros((window, cum.shape[1])), cum[:-window]])[: n + 1]
    win = (cum - lag)[1:].reshape(n, n_channels, nm)
    tot = win.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (win @ centres) / tot
