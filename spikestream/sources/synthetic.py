"""Synthetic sensor streams with known ground truth (EMG now; IMU in `imu.py`).

`EMGSynth` models surface EMG of a forearm driving ``n_dof`` degrees of freedom:

- **targets** ``y[k, d]`` in [0, 1]: a mix of a smooth random wander (white noise through two one-pole
  low-passes at ``wander_hz``, squashed by ``0.5 + 0.5 tanh``) and a discrete **gesture** pattern
  ``P[g, d]`` (gesture 0 = rest = all zero) held for a random ``gesture_s`` duration and smoothed by a
  one-pole at ``onset_hz``; ``y = clip(gesture_weight * gesture + (1 - gesture_weight) * wander, 0, 1)``.
- **activations** ``a = y @ M`` with ``M[d, c] >= 0`` a fixed random mixing (each column sums to 1).
- **signal** ``x[k, c] = amplitude * (a[k, c] * s[k, c] + noise_floor * w[k, c])``: ``s`` unit-variance
  band-limited noise (4th-order Butterworth band-pass ``band_hz``, default 20-450 Hz, capped below
  Nyquist), ``w`` unit white noise.

The generator works in fixed blocks of ``block`` samples, each drawn from its own RNG seeded by
``(seed, block number)``, with the filter states carried between blocks; `read` cuts rows out of that
stream, so any sequence of reads returns the same rows (chunk invariance) and a seed fixes the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream.condition.design import cached
from spikestream.condition.iir import sos_filter_kernel
from spikestream.registry import SOURCES


@dataclass(frozen=True, slots=True)
class SynthChunk:
    """Rows ``[k0, k0 + n)`` of a synthetic stream with their ground truth. Unpacks as ``t_us, data``."""

    t_us: np.ndarray  # int64 [n]
    data: np.ndarray  # float32 [n, C]
    target: np.ndarray  # float32 [n, n_dof], in [0, 1]
    gesture: np.ndarray  # int16 [n], 0 = rest

    def __iter__(self):
        return iter((self.t_us, self.data))

    def __len__(self) -> int:
        return 2


@dataclass(frozen=True)
class EMGParams:
    n_channels: int = 8
    rate_hz: float = 1000.0
    n_dof: int = 2
    seed: int = 0
    n_gestures: int = 4
    gesture_s: tuple[float, float] = (1.0, 3.0)
    gesture_weight: float = 0.7
    wander_hz: float = 0.3
    onset_hz: float = 4.0
    band_hz: tuple[float, float] = (20.0, 450.0)
    amplitude: float = 1.0
    noise_floor: float = 0.05
    block: int = 1024

    def __post_init__(self):
        def need(ok, text):
            if not ok:
                raise ValueError(f"emg synth: {text}")

        need(int(self.n_channels) >= 1, f"n_channels must be >= 1, got {self.n_channels}")
        need(np.isfinite(self.rate_hz) and self.rate_hz > 0, f"rate_hz must be > 0, got {self.rate_hz}")
        need(self.rate_hz <= 1e6, f"rate_hz must be <= 1e6 (microsecond time base), got {self.rate_hz}")
        need(int(self.n_dof) >= 1, f"n_dof must be >= 1, got {self.n_dof}")
        need(int(self.n_gestures) >= 1, f"n_gestures must be >= 1 (gesture 0 is rest), got {self.n_gestures}")
        lo, hi = self.gesture_s
        need(0 < lo <= hi, f"gesture_s must be (min, max) seconds with 0 < min <= max, got {self.gesture_s}")
        need(0.0 <= self.gesture_weight <= 1.0, f"gesture_weight must be in [0, 1], got {self.gesture_weight}")
        nyq = self.rate_hz / 2
        need(0 < self.wander_hz < nyq and 0 < self.onset_hz < nyq, "wander_hz and onset_hz must be in (0, Nyquist)")
        b0, b1 = self.band_hz
        need(0 < b0 < b1, f"band_hz must be (low, high) with 0 < low < high, got {self.band_hz}")
        need(b0 < 0.9 * nyq, f"band_hz low edge {b0} Hz must lie below 0.9 x Nyquist ({0.9 * nyq:g} Hz)")
        need(self.amplitude > 0 and self.noise_floor >= 0, "amplitude must be > 0 and noise_floor >= 0")
        need(int(self.block) >= 1, "block must be >= 1")
        need(int(self.seed) >= 0, f"seed must be >= 0, got {self.seed}")


def _butter_bandpass(order: int, lo: float, hi: float, rate_hz: float) -> np.ndarray:
    from scipy import signal  # only when not designed before (spikestream.condition.design)

    return signal.butter(order, [lo, hi], btype="bandpass", fs=rate_hz, output="sos")


def _unit_gain(sos: np.ndarray, rate_hz: float) -> np.ndarray:
    from scipy import signal

    _, h = signal.sosfreqz(sos, worN=8192, fs=rate_hz)
    return np.array([1.0 / np.sqrt(np.mean(np.abs(h) ** 2))])


@njit(cache=True)
def _one_pole_kernel(x, b0, a, z, out):
    """``scipy.signal.lfilter([b0], [1, -a], x, axis=0, zi=z)``'s recursion (transposed direct form II)."""
    for i in range(x.shape[0]):
        for k in range(x.shape[1]):
            y = b0 * x[i, k] + z[0, k]
            z[0, k] = a * y
            out[i, k] = y


def _lfilter_one_pole(ba: tuple[np.ndarray, np.ndarray], x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Filter the columns of `x` by the one-pole `ba` (from `_one_pole`), state `z` [1, K] updated in place."""
    x = np.ascontiguousarray(x, np.float64)
    out = np.empty_like(x)
    _one_pole_kernel(x, float(ba[0][0]), float(-ba[1][1]), z, out)
    return out


def _one_pole(f_hz: float, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.exp(-2 * np.pi * f_hz / rate_hz)
    return np.array([1 - a]), np.array([1.0, -a])


class BlockSynth:
    """Shared machinery: rows come from fixed blocks, each generated from an RNG seeded by (seed, block
    number) with filter states carried over, so any sequence of `read` sizes gives the same rows."""

    chunk_type: type = None  # a dataclass whose first two fields are t_us and data
    total = None  # endless

    def __init__(self, rate_hz: float, block: int):
        self.rate_hz = float(rate_hz)
        self._block = int(block)

    def reset(self) -> None:
        self._k = 0  # next row to hand out
        self._block_no = 0
        self._buf = None  # the current block
        self._buf_k0 = 0
        self._reset_generator()

    def read(self, max_samples: int):
        """The next ``max_samples`` rows (a synthetic source always has them)."""
        n = int(max_samples)
        if n < 0:
            raise ValueError("read: max_samples must be >= 0")
        parts = []
        while n > 0:
            if self._buf is None or self._k >= self._buf_k0 + self._buf[0].size:
                self._buf_k0 = self._block_no * self._block
                self._buf = self._make_block(self._block_no, self._block)
                self._block_no += 1
            off = self._k - self._buf_k0
            take = min(n, self._buf[0].size - off)
            parts.append([a[off:off + take] for a in self._buf])
            self._k += take
            n -= take
        if not parts:
            return self.chunk_type(*(a[:0] for a in self._empty_block()))
        if len(parts) == 1:
            return self.chunk_type(*(a.copy() for a in parts[0]))
        return self.chunk_type(*(np.concatenate([q[i] for q in parts]) for i in range(len(parts[0]))))

    def skip(self, n: int) -> None:
        """Advance ``n`` rows without returning them (used to drop stale rows when a paced loop stalls)."""
        while n > 0:
            step = min(n, 1 << 16)
            self.read(step)
            n -= step

    @property
    def position(self) -> int:
        """Rows handed out so far."""
        return self._k

    def time_us(self, k) -> np.ndarray:
        if isinstance(k, int):  # the pacing loop asks for one row at a time: same arithmetic, no arrays
            return round(float(k) * (1e6 / self.rate_hz))  # round() is half-to-even like np.round
        return np.round(np.asarray(k, np.float64) * (1e6 / self.rate_hz)).astype(np.int64)

    def rows_until(self, t_us: int) -> int:
        """How many rows have times <= t_us."""
        if t_us < 0:
            return 0
        k = int(np.floor(t_us * self.rate_hz / 1e6))
        while self.time_us(k + 1) <= t_us:
            k += 1
        while k >= 0 and self.time_us(k) > t_us:
            k -= 1
        return k + 1

    def get_state(self) -> dict[str, np.ndarray]:
        return {"position": np.array([self._k], np.int64)}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if "position" not in state or np.asarray(state["position"]).shape != (1,):
            raise ValueError(f"{type(self).__name__} state needs 'position' of shape (1,)")
        k = int(np.asarray(state["position"])[0])
        if k < 0:
            raise ValueError(f"{type(self).__name__} state: negative position")
        self.reset()
        self.skip(k)

    def _empty_block(self):
        return self._make_block(0, 0)

    def _reset_generator(self) -> None:
        raise NotImplementedError

    def _make_block(self, block_no: int, n: int) -> tuple:
        raise NotImplementedError


@SOURCES.register("emg_synth")
class EMGSynth(BlockSynth):
    """Synthetic multichannel EMG with gesture labels and continuous targets. See module docstring."""

    chunk_type = SynthChunk

    def __init__(self, n_channels: int = 8, rate_hz: float = 1000.0, n_dof: int = 2, seed: int = 0, **kw):
        p = self.params = EMGParams(int(n_channels), float(rate_hz), int(n_dof), int(seed), **kw)
        super().__init__(p.rate_hz, p.block)
        self.n_channels, self.n_dof = p.n_channels, p.n_dof
        self.channels = [f"emg{c}" for c in range(p.n_channels)]
        fixed = np.random.default_rng([p.seed, 0x5EED])
        self.mixing = fixed.random((p.n_dof, p.n_channels)) ** 2 + 0.02
        self.mixing /= self.mixing.sum(axis=0, keepdims=True)
        self.patterns = np.zeros((p.n_gestures, p.n_dof))
        if p.n_gestures > 1:
            self.patterns[1:] = fixed.uniform(0.2, 1.0, (p.n_gestures - 1, p.n_dof)) * (
                fixed.random((p.n_gestures - 1, p.n_dof)) < 0.7)
            for g in range(1, p.n_gestures):  # no gesture may equal rest
                if not self.patterns[g].any():
                    self.patterns[g, g % p.n_dof] = 0.8
        hi = min(p.band_hz[1], 0.45 * p.rate_hz)
        band = (2, float(p.band_hz[0]), float(hi), float(p.rate_hz))
        self._sos_band = cached("butter_bandpass", band, lambda: _butter_bandpass(*band))
        # unit output variance for unit white input
        self._band_gain = float(cached("unit_gain", band, lambda: _unit_gain(self._sos_band, p.rate_hz))[0])
        self._sos_k = np.ascontiguousarray(np.broadcast_to(self._sos_band, (p.n_channels, *self._sos_band.shape)))
        self._lp_wander = _one_pole(p.wander_hz, p.rate_hz)
        self._lp_onset = _one_pole(p.onset_hz, p.rate_hz)
        a = np.exp(-2 * np.pi * p.wander_hz / p.rate_hz)
        var2 = (1 - a) * (1 + a * a) / (1 + a) ** 3  # variance of white noise through both one-poles
        self._wander_gain = 1.2 / np.sqrt(var2)
        self.reset()

    def _reset_generator(self) -> None:
        p = self.params
        self._zi_band = np.zeros((self._sos_band.shape[0], 2, p.n_channels))
        self._zi_w1 = np.zeros((1, p.n_dof))
        self._zi_w2 = np.zeros((1, p.n_dof))
        self._zi_on = np.zeros((1, p.n_dof))
        self._gesture = 0
        self._gesture_left = 0

    def _make_block(self, block_no: int, n: int) -> tuple:
        p = self.params
        k0 = block_no * p.block
        if n == 0:
            return (np.empty(0, np.int64), np.empty((0, p.n_channels), np.float32),
                    np.empty((0, p.n_dof), np.float32), np.empty(0, np.int16))
        rng = np.random.default_rng([p.seed, 1, block_no])
        # gesture schedule (a Python loop over segments, a few per block at most)
        labels = np.empty(n, np.int16)
        i = 0
        while i < n:
            if self._gesture_left <= 0:
                if self._gesture == 0 and p.n_gestures > 1:
                    self._gesture = int(rng.integers(1, p.n_gestures))
                else:
                    self._gesture = 0  # rest between gestures
                self._gesture_left = max(1, int(round(rng.uniform(*p.gesture_s) * p.rate_hz)))
            take = min(n - i, self._gesture_left)
            labels[i:i + take] = self._gesture
            self._gesture_left -= take
            i += take
        g_raw = self.patterns[labels]
        g_smooth = _lfilter_one_pole(self._lp_onset, g_raw, self._zi_on)
        w = rng.standard_normal((n, p.n_dof))
        w = _lfilter_one_pole(self._lp_wander, w, self._zi_w1)
        w = _lfilter_one_pole(self._lp_wander, w, self._zi_w2)
        wander = 0.5 + 0.5 * np.tanh(w * self._wander_gain)
        target = np.clip(p.gesture_weight * g_smooth + (1 - p.gesture_weight) * wander, 0.0, 1.0)
        act = target @ self.mixing
        s = rng.standard_normal((n, p.n_channels))
        out = np.empty_like(s)  # scipy.signal.sosfilt's recursion; its state layout [section, 2, channel] kept
        sos_filter_kernel(s, self._sos_k, self._zi_band.transpose(2, 0, 1), out)
        s = out
        floor = rng.standard_normal((n, p.n_channels))
        x = p.amplitude * (act * s * self._band_gain + p.noise_floor * floor)
        t = self.time_us(np.arange(k0, k0 + n))
        return t, x.astype(np.float32), target.astype(np.float32), labels
