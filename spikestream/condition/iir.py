"""Causal IIR filters with carried state: Butterworth band-pass / low-pass / high-pass and notch.

Design by scipy.signal (``butter(..., output="sos")``, ``iirnotch``), kept on disk after the first time
(`spikestream.condition.design`: a restart does not import scipy.signal); filtering by a jitted cascade of
biquads in transposed direct form II, the same recursion as ``scipy.signal.sosfilt``, so the outputs
agree with it (to float64 rounding) and a stream filtered in chunks equals the stream filtered whole.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.condition._base import Conditioner
from spikestream.condition._registry import register
from spikestream.condition.design import cached
from spikestream.params import Param, Params


@njit(cache=True)
def sos_filter_kernel(x, sos, zi, out):
    """Filter each column k of ``x[n, K]`` by the biquad cascade ``sos[k, s, 0:6]`` (b0 b1 b2 a0 a1 a2,
    a0 == 1) with state ``zi[k, s, 0:2]`` (updated in place); write ``out[n, K]``."""
    n, kk = x.shape
    ns = sos.shape[1]
    for i in range(n):
        for k in range(kk):
            v = np.float64(x[i, k])
            for s in range(ns):
                b0 = sos[k, s, 0]
                y = b0 * v + zi[k, s, 0]
                zi[k, s, 0] = sos[k, s, 1] * v - sos[k, s, 4] * y + zi[k, s, 1]
                zi[k, s, 1] = sos[k, s, 2] * v - sos[k, s, 5] * y
                v = y
            out[i, k] = v


class SOSFilter(Conditioner):
    """Apply one second-order-section design to every channel."""

    _state_names = ("zi",)

    def __init__(self, n_channels: int, rate_hz: float, sos: np.ndarray):
        super().__init__(n_channels, rate_hz)
        sos = np.asarray(sos, np.float64)
        if sos.ndim != 2 or sos.shape[1] != 6 or not np.allclose(sos[:, 3], 1.0):
            raise ValueError("sos must be [sections, 6] with a0 == 1")
        self.sos = np.ascontiguousarray(np.broadcast_to(sos, (self.n_channels, *sos.shape)))
        self.zi = np.zeros((self.n_channels, sos.shape[0], 2))

    def _reset(self) -> None:
        self.zi[:] = 0.0

    def _process(self, data, out) -> None:
        sos_filter_kernel(data, self.sos, self.zi, out)


def _butter(order: int, cutoff, btype: str, rate_hz: float) -> np.ndarray:
    """``scipy.signal.butter(..., output="sos")``, designed once and then read from disk (condition/design.py)."""
    def design():
        from scipy import signal

        return signal.butter(order, cutoff, btype, fs=rate_hz, output="sos")

    return cached(f"butter_{btype}", (order, cutoff, float(rate_hz)), design)


def cutoff(name: str, default: float, doc: str) -> Param:
    """A frequency key (> 0 here; below Nyquist is checked when the stage knows its rate)."""
    return Param(name, float, default, unit="Hz", lo=0, lo_open=True, doc=doc + " (below Nyquist)")


def order(default: int, hi: int = 12) -> Param:
    return Param("order", int, default, lo=1, hi=hi, doc="Butterworth order")


def _low_below_high(v: dict, table: dict) -> None:
    if not v["low_hz"] < v["high_hz"]:
        raise ValueError(f"low_hz {v['low_hz']!r} must be below high_hz {v['high_hz']!r}")


def _check_band(what: str, f, rate_hz: float) -> None:
    nyq = rate_hz / 2
    for v in np.atleast_1d(f):
        if not (np.isfinite(v) and 0 < v < nyq):
            raise ValueError(f"{what}: cutoff {v} Hz must lie in (0, Nyquist = {nyq:g} Hz)")


@register("bandpass")
class BandPass(SOSFilter):
    """Butterworth band-pass ``low_hz``..``high_hz`` of ``order`` (per edge; scipy's convention)."""

    PARAMS = Params(cutoff("low_hz", 20.0, "lower edge"), cutoff("high_hz", 450.0, "upper edge"), order(4),
                    check=_low_below_high)

    def __init__(self, n_channels: int, rate_hz: float, **kw):
        p = self.declared(kw)
        _check_band("bandpass", [p["low_hz"], p["high_hz"]], rate_hz)
        super().__init__(n_channels, rate_hz, _butter(p["order"], (p["low_hz"], p["high_hz"]), "bandpass", rate_hz))


class _OneEdge(SOSFilter):
    """A Butterworth filter of one edge ``cutoff_hz``, its type (scipy's ``btype``) the registered kind."""

    def __init__(self, n_channels: int, rate_hz: float, **kw):
        p = self.declared(kw)
        _check_band(self.kind, p["cutoff_hz"], rate_hz)
        super().__init__(n_channels, rate_hz, _butter(p["order"], p["cutoff_hz"], self.kind, rate_hz))


@register("lowpass")
class LowPass(_OneEdge):
    """Butterworth low-pass at ``cutoff_hz``."""

    PARAMS = Params(cutoff("cutoff_hz", 10.0, "the -3 dB frequency"), order(2))


@register("highpass")
class HighPass(_OneEdge):
    """Butterworth high-pass at ``cutoff_hz``."""

    PARAMS = Params(cutoff("cutoff_hz", 20.0, "the -3 dB frequency"), order(2))


@register("notch")
class Notch(SOSFilter):
    """Mains notch at ``freq_hz`` and its first ``harmonics`` multiples below Nyquist (``iirnotch``, ``q``)."""

    PARAMS = Params(cutoff("freq_hz", 50.0, "the mains frequency"),
                    Param("q", float, 30.0, lo=0, lo_open=True, doc="quality factor (freq_hz / bandwidth)"),
                    Param("harmonics", int, 1, lo=1, doc="notches at freq_hz, 2 freq_hz, ... (those below Nyquist)"))

    def __init__(self, n_channels: int, rate_hz: float, **kw):
        p = self.declared(kw)
        freq_hz, q, harmonics = p["freq_hz"], p["q"], p["harmonics"]
        _check_band("notch", freq_hz, rate_hz)

        def design():
            from scipy import signal

            secs = []
            for h in range(1, int(harmonics) + 1):
                if h * freq_hz >= rate_hz / 2:
                    break
                b, a = signal.iirnotch(h * freq_hz, q, fs=rate_hz)
                secs.append(signal.tf2sos(b, a))
            return np.concatenate(secs)

        super().__init__(n_channels, rate_hz, cached("notch", (float(freq_hz), float(q), int(harmonics),
                                                               float(rate_hz)), design))
