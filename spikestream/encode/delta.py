"""Delta encoders: send-on-delta (Miskowicz 2006) and level crossing (Tsividis 2010).

Each input channel c drives two output neurons: UP = 2c fires when the signal rose by ``threshold`` above
the reference, DOWN = 2c+1 when it fell by ``threshold`` below it. Spikes carry the sample's time.

- ``mode="reset"`` (send-on-delta): one spike when ``|x - ref| >= threshold``, then ``ref = x``.
- ``mode="level"`` (level crossing): ``k = floor(|x - ref| / threshold)`` levels were crossed; emit
  ``min(k, max_per_sample)`` spikes and move ``ref`` by that many thresholds, so a decoder that sums
  ``±threshold`` per spike tracks the signal within one threshold (see `decode_delta`).

The reference starts at ``init`` or, if None, at the stream's first sample (which then gives no spike).

``amplitude=True`` adds a third neuron per channel, AMP: an integrate-and-fire neuron driven by the
rectified signal (``acc += |x|``; a spike per ``amplitude_threshold`` accumulated (default: ``threshold``),
at most ``max_per_sample`` per sample, the excess beyond one pending spike dropped). Its count over a
window is the window's mean absolute value (Hudgins' MAV) in spikes, while UP + DOWN count its waveform
length (WL): the two classical EMG amplitude features, which carry different information (on the Myo
armband data, LDA on log MAV + log WL: 96.9 % over 22 people, log WL alone 95.9 %; benchmarks/myo_gestures.py).
The signal should be zero-mean (raw EMG is; otherwise put a ``highpass`` conditioning stage first). Neurons
per channel are then UP = 3c, DOWN = 3c+1, AMP = 3c+2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream.encode._base import Encoder, SpikeBuffer
from spikestream.registry import ENCODERS


@dataclass(frozen=True)
class DeltaParams:
    n_channels: int
    threshold: float | tuple[float, ...] = 0.1
    mode: str = "reset"
    max_per_sample: int = 1
    init: float | None = None
    amplitude: bool = False
    amplitude_threshold: float | None = None

    def __post_init__(self):
        if int(self.n_channels) < 1:
            raise ValueError(f"delta: n_channels must be >= 1, got {self.n_channels}")
        thr = np.atleast_1d(np.asarray(self.threshold, np.float64))
        if thr.ndim != 1 or thr.size not in (1, int(self.n_channels)):
            raise ValueError(f"delta: threshold must be one number or one per channel ({self.n_channels})")
        if not np.all(np.isfinite(thr)) or np.any(thr <= 0):
            raise ValueError(f"delta: threshold must be finite and > 0, got {self.threshold}")
        if self.mode not in ("reset", "level"):
            raise ValueError(f"delta: mode must be 'reset' or 'level', got {self.mode!r}")
        if int(self.max_per_sample) < 1:
            raise ValueError(f"delta: max_per_sample must be >= 1, got {self.max_per_sample}")
        if self.init is not None and not np.isfinite(self.init):
            raise ValueError("delta: init must be finite or None")
        if not isinstance(self.amplitude, (bool, np.bool_)):
            raise ValueError(f"delta: amplitude must be true or false, got {self.amplitude!r}")
        at = self.amplitude_threshold
        if at is not None and (isinstance(at, bool) or not isinstance(at, (int, float)) or not np.isfinite(at)
                               or at <= 0):
            raise ValueError(f"delta: amplitude_threshold must be a number > 0, got {at!r}")

    def thresholds(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.threshold, np.float64), (int(self.n_channels),)).copy()


@njit(cache=True)
def _delta_kernel(data, t_us, thr, ref, level, max_per, amp, thr_amp, acc, out_idx, out_t):
    """Send-on-delta / level crossing over rows of ``data``; updates ``ref`` (and, with ``amp``, the AMP
    neurons' ``acc``); returns the spike count."""
    n, c_n = data.shape
    stride = 3 if amp else 2
    m = 0
    for i in range(n):
        ti = t_us[i]
        for c in range(c_n):
            d = np.float64(data[i, c]) - ref[c]
            if d >= thr[c]:
                if level:
                    k = min(int(d / thr[c]), max_per)
                    ref[c] += k * thr[c]
                else:
                    k = 1
                    ref[c] = data[i, c]
                for _ in range(k):
                    out_idx[m] = stride * c
                    out_t[m] = ti
                    m += 1
            elif d <= -thr[c]:
                if level:
                    k = min(int(-d / thr[c]), max_per)
                    ref[c] -= k * thr[c]
                else:
                    k = 1
                    ref[c] = data[i, c]
                for _ in range(k):
                    out_idx[m] = stride * c + 1
                    out_t[m] = ti
                    m += 1
            if amp:
                acc[c] += abs(np.float64(data[i, c]))
                k = min(int(acc[c] / thr_amp[c]), max_per)
                acc[c] = min(acc[c] - k * thr_amp[c], thr_amp[c])
                for _ in range(k):
                    out_idx[m] = stride * c + 2
                    out_t[m] = ti
                    m += 1
    return m


@ENCODERS.register("delta")
class DeltaEncoder(Encoder):
    """UP/DOWN spikes on changes of ``threshold`` (and AMP spikes on the rectified signal with
    ``amplitude``); `DeltaParams` documents the parameters."""

    _state_names = ("ref", "started")

    def __init__(self, n_channels: int, threshold=0.1, mode: str = "reset", max_per_sample: int = 1,
                 init: float | None = None, amplitude: bool = False, amplitude_threshold: float | None = None):
        if isinstance(threshold, (list, np.ndarray)):
            threshold = tuple(float(v) for v in np.ravel(threshold))
        self.params = DeltaParams(int(n_channels), threshold, mode, int(max_per_sample), init, amplitude,
                                  amplitude_threshold)
        self.per_channel = 3 if amplitude else 2
        super().__init__(self.params.n_channels, self.per_channel * self.params.n_channels)
        self._thr = self.params.thresholds()
        self._level = mode == "level"
        self._max_per = int(max_per_sample) if self._level else 1
        self._amp = bool(amplitude)
        self._thr_amp = self._thr.copy() if amplitude_threshold is None else np.full_like(self._thr,
                                                                                           amplitude_threshold)
        self.ref = np.zeros(self.n_inputs, np.float64)
        self.started = np.zeros(1, np.uint8)
        self.acc = np.zeros(self.n_inputs, np.float64)  # the AMP neurons' membranes (used with amplitude)
        if self._amp:  # older checkpoints (no AMP neurons) keep loading
            self._state_names = ("ref", "started", "acc")
        self._buf = SpikeBuffer()
        self._reset()

    def _reset(self) -> None:
        self.ref[:] = 0.0 if self.params.init is None else self.params.init
        self.started[0] = 0 if self.params.init is None else 1
        self.acc[:] = 0.0

    def _encode(self, data, t_us):
        if not self.started[0]:
            self.ref[:] = data[0]
            self.started[0] = 1
        self._buf.ensure(data.size * self._max_per * (2 if self._amp else 1))
        m = _delta_kernel(data, t_us, self._thr, self.ref, self._level, self._max_per, self._amp, self._thr_amp,
                          self.acc, self._buf.idx, self._buf.t)
        return self._buf.take(m)


def decode_delta(idx, t_us, sample_t_us, n_channels: int, threshold, x0=0.0) -> np.ndarray:
    """Reconstruct ``float64[len(sample_t_us), n_channels]`` from delta spikes: ``x0 ± threshold`` per
    UP/DOWN spike at or before each sample time (exact within one threshold for ``mode="level"``)."""
    idx = np.asarray(idx, np.int64)
    t_us = np.asarray(t_us, np.int64)
    sample_t_us = np.asarray(sample_t_us, np.int64)
    thr = np.broadcast_to(np.asarray(threshold, np.float64), (n_channels,))
    sign = np.where(idx % 2 == 0, 1.0, -1.0)
    ch = idx // 2
    out = np.empty((sample_t_us.size, n_channels))
    pos = np.searchsorted(sample_t_us, t_us, side="left")  # spike at sample i counts from row i on
    for c in range(n_channels):
        steps = np.zeros(sample_t_us.size + 1)
        sel = ch == c
        np.add.at(steps, pos[sel], sign[sel] * thr[c])
        out[:, c] = np.cumsum(steps)[:-1]
    return out + np.broadcast_to(np.asarray(x0, np.float64), (n_channels,))


@njit(cache=True)
def _sigma_delta_kernel(data, t_us, gain, thr, max_per, acc, out_idx, out_t):
    n, c_n = data.shape
    m = 0
    for i in range(n):
        for c in range(c_n):
            acc[c] += gain * np.float64(data[i, c])
            k = 0
            while acc[c] >= thr and k < max_per:
                acc[c] -= thr
                out_idx[m] = 2 * c
                out_t[m] = t_us[i]
                m += 1
                k += 1
            while acc[c] <= -thr and k < max_per:
                acc[c] += thr
                out_idx[m] = 2 * c + 1
                out_t[m] = t_us[i]
                m += 1
                k += 1
    return m


@ENCODERS.register("sigma_delta")
class SigmaDeltaEncoder(Encoder):
    """First-order sigma-delta modulation as a signed integrate-and-fire neuron pair per channel:
    ``acc += gain * x``; while ``acc >= threshold``: UP (2c), ``acc -= threshold``; while
    ``acc <= -threshold``: DOWN (2c+1), ``acc += threshold`` (at most ``max_per_sample`` per sample).
    The net spike rate is proportional to the signal: ``x ≈ threshold / gain * (UP - DOWN) per sample``."""

    _state_names = ("acc",)

    def __init__(self, n_channels: int, threshold: float = 1.0, gain: float = 0.1, max_per_sample: int = 1):
        if not (np.isfinite(threshold) and threshold > 0):
            raise ValueError(f"sigma_delta: threshold must be > 0, got {threshold}")
        if not (np.isfinite(gain) and gain > 0):
            raise ValueError(f"sigma_delta: gain must be > 0, got {gain}")
        if int(max_per_sample) < 1 or int(n_channels) < 1:
            raise ValueError("sigma_delta: n_channels and max_per_sample must be >= 1")
        super().__init__(n_channels, 2 * int(n_channels))
        self.threshold, self.gain, self.max_per = float(threshold), float(gain), int(max_per_sample)
        self.acc = np.zeros(self.n_inputs)
        self._buf = SpikeBuffer()

    def _reset(self) -> None:
        self.acc[:] = 0.0

    def _encode(self, data, t_us):
        self._buf.ensure(data.size * self.max_per)
        m = _sigma_delta_kernel(data, t_us, self.gain, self.threshold, self.max_per, self.acc, self._buf.idx, self._buf.t)
        return self._buf.take(m)


def decode_sigma_delta(idx, t_us, sample_t_us, n_channels: int, threshold: float, gain: float, window: int = 50):
    """Reconstruct by the net spike count over the last ``window`` samples: ``threshold / gain * count / window``."""
    steps = decode_delta(idx, t_us, sample_t_us, n_channels, 1.0)  # cumulative net count per sample
    lagged = np.vstack([np.zeros((window, n_channels)), steps[:-window]]) if steps.shape[0] > window else np.zeros_like(steps)
    return (steps - lagged) * (threshold / gain / window)
