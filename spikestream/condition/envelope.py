"""Rectification and envelope (EMG): ``|x|`` or ``x^2``, a Butterworth low-pass, and ``sqrt`` for RMS."""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.condition._base import Conditioner
from spikestream.condition._registry import CONDITIONERS
from spikestream.condition.iir import _butter, sos_filter_kernel


@njit(cache=True)
def _envelope_kernel(x, sos, zi, square, tmp, out):
    n, c = x.shape
    for i in range(n):
        for k in range(c):
            v = x[i, k]
            tmp[i, k] = v * v if square else abs(v)
    sos_filter_kernel(tmp, sos, zi, out)
    if square:
        for i in range(n):
            for k in range(c):
                out[i, k] = np.sqrt(max(out[i, k], 0.0))


@CONDITIONERS.register("rectify")
class Rectify(Conditioner):
    """Full-wave rectification ``|x|`` (stateless)."""

    def __init__(self, n_channels: int, rate_hz: float):
        super().__init__(n_channels, rate_hz)

    def _reset(self) -> None:
        pass

    def _process(self, data, out) -> None:
        np.abs(data, out=out)


@CONDITIONERS.register("envelope")
class Envelope(Conditioner):
    """Linear envelope: rectify (``mode="abs"``) or square (``mode="rms"``), low-pass ``cutoff_hz``
    (Butterworth, ``order``), and for rms take the square root."""

    _state_names = ("zi",)

    def __init__(self, n_channels: int, rate_hz: float, cutoff_hz: float = 5.0, order: int = 2, mode: str = "abs"):
        super().__init__(n_channels, rate_hz)
        if not (0 < cutoff_hz < rate_hz / 2):
            raise ValueError(f"envelope: cutoff_hz must lie in (0, {rate_hz / 2:g}), got {cutoff_hz}")
        if mode not in ("abs", "rms"):
            raise ValueError(f"envelope: mode must be 'abs' or 'rms', got {mode!r}")
        if not 1 <= int(order) <= 8:
            raise ValueError(f"envelope: order must be in 1..8, got {order}")
        sos = _butter(int(order), float(cutoff_hz), "lowpass", rate_hz)
        self.sos = np.ascontiguousarray(np.broadcast_to(sos, (self.n_channels, *sos.shape)))
        self.zi = np.zeros((self.n_channels, sos.shape[0], 2))
        self.square = mode == "rms"

    def _reset(self) -> None:
        self.zi[:] = 0.0

    def _process(self, data, out) -> None:
        _envelope_kernel(data, self.sos, self.zi, self.square, np.empty(data.shape, np.float64), out)
