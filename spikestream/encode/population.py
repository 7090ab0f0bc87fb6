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
from spikestream.encode.rate import check_range, check_rate
from spikestream.registry import ENCODERS


def population_centres(n_neurons: int, lo: float, hi: float) -> np.ndarray:
    j = np.arange(n_neurons)
    return lo + (2 * j - 1) / 2 * (hi - lo) / (n_neurons - 2)


@njit(cache=True)
def _population_kernel(data, t_us, mu0, delta, k2, p_max, acc, act, out_idx, out_t):
    """Gaussian activations by recurrence from the nearest centre (2 exps per value, not M):
    ``a[j+1] = a[j] * r[j]``, ``r[j+1] = r[j] * q`` with ``q = exp(-2 k delta^2)``, and likewise downwards."""
    n, c_n = data.shape
    nm = act.shape[0]
    q = np.exp(-2.0 * k2 * delta * delta)
    cdd = np.exp(-k2 * delta * delta)
    m = 0
    for i in range(n):
        for c in range(c_n):
            x = np.float64(data[i, c])
            js = int(np.floor((x - mu0) / delta + 0.5))
            js = min(max(js, 0), nm - 1)
            d = x - (mu0 + js * delta)
            act[js] = np.exp(-k2 * d * d)
            e = np.exp(2.0 * k2 * d * delta)
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


@ENCODERS.register("population")
class PopulationEncoder(Encoder):
    _state_names = ("acc",)

    def __init__(self, n_channels: int, rate_hz: float | None = None, n_neurons: int = 8, lo: float = 0.0,
                 hi: float = 1.0, beta: float = 1.5, max_rate_hz: float = 200.0):
        rate_hz = check_rate("population", rate_hz)
        check_range("population", lo, hi)
        if int(n_neurons) < 3:
            raise ValueError(f"population: n_neurons must be >= 3, got {n_neurons}")
        if not beta > 0:
            raise ValueError(f"population: beta must be > 0, got {beta}")
        if not 0 < max_rate_hz <= rate_hz:
            raise ValueError(f"population: max_rate_hz must be in (0, rate_hz = {rate_hz:g}], got {max_rate_hz}")
        if int(n_channels) < 1:
            raise ValueError("population: n_channels must be >= 1")
        super().__init__(n_channels, int(n_channels) * int(n_neurons))
        self.mu = population_centres(int(n_neurons), lo, hi)
        sigma = (hi - lo) / (beta * (int(n_neurons) - 2))
        self.inv2s2 = 1.0 / (2 * sigma * sigma)
        self.p_max = max_rate_hz / rate_hz
        self.acc = np.zeros((self.n_inputs, int(n_neurons)))
        self._act = np.zeros(int(n_neurons))
        self._delta = float(self.mu[1] - self.mu[0])
        self._buf = SpikeBuffer()

    def _reset(self) -> None:
        self.acc[:] = 0.0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size * self.mu.size)
        m = _population_kernel(data, t_us, float(self.mu[0]), self._delta, self.inv2s2, self.p_max, self.acc, self._act,
                               self._buf.idx, self._buf.t)
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
