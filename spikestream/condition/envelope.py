"""Rectification and envelope (EMG): ``|x|`` or ``x^2``, a Butterworth low-pass, and ``sqrt`` for RMS."""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.condition._base import Conditioner
from spikestream.condition._registry import register
from spikestream.condition.iir import _butter, cutoff, order, sos_filter_kernel
from spikestream.params import Param, Params


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


@register("rectify")
class Rectify(Conditioner):
    """Full-wave rectification ``|x|`` (stateless)."""

    PARAMS = Params()

    def __init__(self, n_channels: int, rate_hz: float, **kw):
        self.declared(kw)  # no keys: an unknown one is named
        super().__init__(n_channels, rate_hz)

    def _reset(self) -> None:
        pass

    def _process(self, data, out) -> None:
        np.abs(data, out=out)


@register("envelope")
class Envelope(Conditioner):
    """Linear envelope: rectify (``mode="abs"``) or square (``mode="rms"``), low-pass ``cutoff_hz``
    (Butterworth, ``order``), and for rms take the square root."""

    _state_names = ("zi",)
    PARAMS = Params(cutoff("cutoff_hz", 5.0, "the envelope's low-pass"), order(2, hi=8),
                    Param("mode", str, "abs", choices=("abs", "rms"), doc='rectify ("abs") or square and root ("rms")'))

    def __init__(self, n_channels: int, rate_hz: float, **kw):
        p = self.declared(kw)
        super().__init__(n_channels, rate_hz)
        if not p["cutoff_hz"] < rate_hz / 2:
            raise ValueError(f"envelope: cutoff_hz must lie in (0, {rate_hz / 2:g}), got {p['cutoff_hz']}")
        sos = _butter(p["order"], p["cutoff_hz"], "lowpass", rate_hz)
        self.sos = np.ascontiguousarray(np.broadcast_to(sos, (self.n_channels, *sos.shape)))
        self.zi = np.zeros((self.n_channels, sos.shape[0], 2))
        self.square = p["mode"] == "rms"

    def _reset(self) -> None:
        self.zi[:] = 0.0

    def _process(self, data, out) -> None:
        _envelope_kernel(data, self.sos, self.zi, self.square, np.empty(data.shape, np.float64), out)
