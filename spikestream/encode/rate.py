"""Rate and latency codes.

**rate** (Poisson or regular): the input, mapped to ``v = clip((x - lo) / (hi - lo), 0, 1)``, sets a firing
rate ``v * max_rate_hz``; per sample the spike probability is ``p = v * max_rate_hz / rate_hz``.
``mode="poisson"`` draws one uniform per channel and sample from a per-channel splitmix64 state (an
explicit array, so runs are reproducible and chunk-invariant); ``mode="regular"`` integrates ``p`` and
fires when the phase reaches 1 (deterministic integrate-and-fire). Neuron c per channel.

**latency** (time-to-first-spike, Thorpe & Gautrais 1998; Bohte et al. 2002): time is cut into windows of
``window_us`` aligned to t = 0. The first sample of a window sets ``v``; the channel fires once, at the
first sample at or after ``window_start + (1 - v) * window_us * span`` (stronger = earlier); ``v <= 0``
gives no spike. Neuron c per channel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.encode._base import Encoder, SpikeBuffer
from spikestream.params import check_number
from spikestream.registry import ENCODERS

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def splitmix_uniform(state, c):
    """Advance ``state[c]`` (uint64) and return a uniform in [0, 1) from its splitmix64 output."""
    s = state[c] + _GOLDEN
    state[c] = s
    z = (s ^ (s >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def check_range(what: str, lo: float, hi: float) -> None:
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"{what}: need finite lo < hi, got lo={lo}, hi={hi}")


def check_rate(what: str, rate_hz) -> float:
    return check_number(rate_hz, f"{what}: rate_hz (the sample rate)", lo=0, lo_open=True, required=True)


@njit(cache=True)
def _rate_kernel(data, t_us, lo, inv_span, p_max, poisson, rng, phase, out_idx, out_t):
    n, c_n = data.shape
    m = 0
    for i in range(n):
        for c in range(c_n):
            v = (np.float64(data[i, c]) - lo) * inv_span
            v = min(max(v, 0.0), 1.0)
            p = v * p_max
            if poisson:
                fire = splitmix_uniform(rng, c) < p
            else:
                phase[c] += p
                fire = phase[c] >= 1.0
                if fire:
                    phase[c] -= 1.0
            if fire:
                out_idx[m] = c
                out_t[m] = t_us[i]
                m += 1
    return m


@ENCODERS.register("rate")
class RateEncoder(Encoder):
    _state_names = ("rng", "phase")

    def __init__(self, n_channels: int, rate_hz: float | None = None, max_rate_hz: float = 100.0, lo: float = 0.0,
                 hi: float = 1.0, mode: str = "poisson", seed: int = 0):
        rate_hz = check_rate("rate", rate_hz)
        check_range("rate", lo, hi)
        if not (0 < max_rate_hz <= rate_hz):
            raise ValueError(f"rate: max_rate_hz must be in (0, rate_hz = {rate_hz:g}], got {max_rate_hz}")
        if mode not in ("poisson", "regular"):
            raise ValueError(f"rate: mode must be 'poisson' or 'regular', got {mode!r}")
        if int(n_channels) < 1:
            raise ValueError("rate: n_channels must be >= 1")
        super().__init__(n_channels, n_channels)
        self.lo, self.inv_span, self.p_max = float(lo), 1.0 / (hi - lo), max_rate_hz / rate_hz
        self.poisson, self.seed = mode == "poisson", int(seed)
        self.rng = np.zeros(self.n_inputs, np.uint64)
        self.phase = np.zeros(self.n_inputs)
        self._buf = SpikeBuffer()
        self._reset()

    def _reset(self) -> None:
        ss = np.random.SeedSequence(self.seed)
        self.rng[:] = ss.generate_state(self.n_inputs, np.uint64)
        self.phase[:] = 0.0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size)
        m = _rate_kernel(data, t_us, self.lo, self.inv_span, self.p_max, self.poisson, self.rng, self.phase,
                         self._buf.idx, self._buf.t)
        return self._buf.take(m)


@njit(cache=True)
def _latency_kernel(data, t_us, lo, inv_span, window, span, win, target, out_idx, out_t):
    n, c_n = data.shape
    m = 0
    for i in range(n):
        t = t_us[i]
        w = t // window
        for c in range(c_n):
            if w != win[c]:
                win[c] = w
                v = min((np.float64(data[i, c]) - lo) * inv_span, 1.0)
                if v > 0.0:
                    target[c] = w * window + np.int64((1.0 - v) * span * window)
                else:
                    target[c] = -1
            if target[c] >= 0 and t >= target[c]:
                target[c] = -1
                out_idx[m] = c
                out_t[m] = t
                m += 1
    return m


@ENCODERS.register("latency")
class LatencyEncoder(Encoder):
    _state_names = ("win", "target")

    def __init__(self, n_channels: int, window_us: int = 20_000, lo: float = 0.0, hi: float = 1.0, span: float = 0.9):
        check_range("latency", lo, hi)
        if int(window_us) < 1:
            raise ValueError(f"latency: window_us must be >= 1, got {window_us}")
        if not 0 < span <= 1:
            raise ValueError(f"latency: span (fraction of the window used for latencies) must be in (0, 1], got {span}")
        if int(n_channels) < 1:
            raise ValueError("latency: n_channels must be >= 1")
        super().__init__(n_channels, n_channels)
        self.lo, self.inv_span, self.window, self.span = float(lo), 1.0 / (hi - lo), int(window_us), float(span)
        self.win = np.zeros(self.n_inputs, np.int64)
        self.target = np.zeros(self.n_inputs, np.int64)
        self._buf = SpikeBuffer()
        self._reset()

    def _reset(self) -> None:
        self.win[:] = np.iinfo(np.int64).min
        self.target[:] = -1

    def _encode(self, data, t_us):
        self._buf.ensure(data.size)
        m = _latency_kernel(data, t_us, self.lo, self.inv_span, self.window, self.span, self.win, self.target,
                            self._buf.idx, self._buf.t)
        return self._buf.take(m)
