"""Normalisation by running (exponentially weighted) statistics, causal and per channel.

With ``a = 1 - exp(-1 / (tau_s * rate_hz))`` and ``d = x - m``: ``m += a d``, ``v = (1 - a)(v + a d^2)``
(the EW mean and variance, West 1979 / Finch 2009); output ``(x - m) / sqrt(v + eps)`` (``center``) or
``x / sqrt(v + m^2 + eps)`` (scale only), using the statistics *before* this sample. The first sample
seeds ``m`` (and gives 0 when centring).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.condition._base import Conditioner
from spikestream.condition._registry import register
from spikestream.params import Param, Params


@njit(cache=True)
def _normalize_kernel(x, a, eps, center, mean, var, started, out):
    n, c = x.shape
    for i in range(n):
        for k in range(c):
            v = np.float64(x[i, k])
            if not started[k]:
                mean[k] = v
                var[k] = 0.0
                started[k] = 1
            if center:
                out[i, k] = (v - mean[k]) / np.sqrt(var[k] + eps)
            else:
                out[i, k] = v / np.sqrt(var[k] + mean[k] * mean[k] + eps)
            d = v - mean[k]
            mean[k] += a * d
            var[k] = (1.0 - a) * (var[k] + a * d * d)


@register("normalize")
class RunningNormalize(Conditioner):
    """z-score each channel by its exponentially weighted mean and variance over ``tau_s`` seconds."""

    _state_names = ("mean", "var", "started")
    PARAMS = Params(Param("tau_s", float, 5.0, unit="s", lo=0, lo_open=True, doc="the statistics' time constant"),
                    Param("eps", float, 1e-6, lo=0, lo_open=True, doc="added to the variance"),
                    Param("center", bool, True, doc="subtract the mean (else scale only)"))

    def __init__(self, n_channels: int, rate_hz: float, **kw):
        p = self.declared(kw)
        super().__init__(n_channels, rate_hz)
        self.a = float(-np.expm1(-1.0 / (p["tau_s"] * rate_hz)))
        self.eps = p["eps"]
        self.center = p["center"]
        self.mean = np.zeros(self.n_channels)
        self.var = np.zeros(self.n_channels)
        self.started = np.zeros(self.n_channels, np.uint8)

    def _reset(self) -> None:
        self.mean[:] = 0.0
        self.var[:] = 0.0
        self.started[:] = 0

    def _process(self, data, out) -> None:
        _normalize_kernel(data, self.a, self.eps, self.center, self.mean, self.var, self.started, out)
