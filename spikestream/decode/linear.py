"""Linear readout of filtered spike rates, trained online: recursive least squares and normalised LMS.

Features ``x = [r_1 .. r_N, 1]`` (exponentially filtered rates in spikes/s, see `features.ExpRates`, plus a
bias); the estimate is ``y = W^T x`` with ``W`` float64[N+1, K]. While `calibrating`, each packet's
a-priori estimate is compared with the target and ``W`` is updated:

RLS with forgetting factor ``lam`` (Haykin, Adaptive Filter Theory, ch. 10), ``P_0 = I / reg``::

    k = P x / (lam + x^T P x);   W += k (y - W^T x)^T;   P = (P - k x^T P) / lam

``P`` is kept symmetric and its trace capped at ``p_trace_max`` (default 1000 x trace(P_0)) so that silent
features under forgetting cannot wind ``P`` up without bound. NLMS: ``W += mu x e^T / (eps + x^T x)``.

``ridge > 0`` (RLS): when calibration ends, ``W`` is refitted in closed form as ridge regression over the
calibration packets, ``W = (G + lam_r I')^-1 B`` with ``G = sum x x^T``, ``B = sum x y^T`` (weighted by the
forgetting factor as RLS weights them) and ``lam_r = ridge * trace(G) / N`` over the rates (the mean squared
rate: the penalty scales with the features, so one value suits any input rates; the bias is not penalised).
RLS's own prior ``reg`` is absolute, in (spikes/s)^2: with rates of tens of spikes/s it is no regularisation
at all, and 10 s of calibration over 80 correlated rates overfits. Measured on the demo (docs/learning.md,
12 seeds): ridge 0.01 lifts r after calibration and takes out the calibrations that failed outright (one
rarely active rate given a huge weight: r 0.36 and -0.002 with ``ridge = 0``).
The output is the a-priori estimate (before this packet's update), so calibration never leaks the
target into the output.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.decode._base import CALIBRATING, N_INPUTS, N_OUTPUTS, TAU_MS, Decoder, build_params
from spikestream.decode.features import ExpRates
from spikestream.params import Param, Params, params_dataclass
from spikestream.registry import DECODERS


@njit(cache=True)
def _predict(W, x, out):
    D, K = W.shape
    for k in range(K):
        s = 0.0
        for d in range(D):
            s += W[d, k] * x[d]
        out[k] = s


@njit(cache=True)
def _rls_update(P, W, x, y, yhat, lam, trace_max, Px):
    D, K = W.shape
    _predict(P.T, x, Px)  # Px = P x
    den = lam
    for i in range(D):
        den += x[i] * Px[i]
    for i in range(D):
        g = Px[i] / den
        for k in range(K):
            W[i, k] += g * (y[k] - yhat[k])
    tr = 0.0
    for i in range(D):
        for j in range(i, D):
            v = (P[i, j] - Px[i] * Px[j] / den) / lam
            P[i, j] = v
            P[j, i] = v
        tr += P[i, i]
    if tr > trace_max:
        f = trace_max / tr
        for i in range(D):
            for j in range(D):
                P[i, j] *= f


@njit(cache=True)
def _accumulate(G, B, x, y, lam):
    """G = lam G + x x^T, B = lam B + x y^T (the sufficient statistics of the ridge refit)."""
    D, K = B.shape
    for i in range(D):
        for j in range(D):
            G[i, j] = lam * G[i, j] + x[i] * x[j]
        for k in range(K):
            B[i, k] = lam * B[i, k] + x[i] * y[k]


def ridge_fit(G: np.ndarray, B: np.ndarray, ridge: float, bias: bool) -> np.ndarray | None:
    """``(G + lam_r I')^-1 B`` with ``lam_r = ridge * mean(diag G)`` over the rates (not the bias); None when
    there is nothing to fit (no calibration packet, or every rate silent and no bias)."""
    n = G.shape[0] - (1 if bias else 0)
    lam = ridge * float(np.trace(G[:n, :n])) / max(n, 1)
    if not np.isfinite(lam) or (lam <= 0.0 and not G.any()):
        return None
    A = G + np.diag(np.r_[np.full(n, lam), np.zeros(G.shape[0] - n)])
    try:
        W = np.linalg.solve(A, B)
    except np.linalg.LinAlgError:
        W = np.linalg.lstsq(A, B, rcond=None)[0]
    return W if np.isfinite(W).all() else None


@njit(cache=True)
def _nlms_update(W, x, y, yhat, mu, eps):
    D, K = W.shape
    nx = eps
    for d in range(D):
        nx += x[d] * x[d]
    for d in range(D):
        g = mu * x[d] / nx
        for k in range(K):
            W[d, k] += g * (y[k] - yhat[k])


BIAS = Param("bias", bool, True, doc="a constant feature beside the rates")
RLS = Params(
    N_INPUTS, N_OUTPUTS, TAU_MS,
    Param("forgetting", float, 0.999, lo=0, lo_open=True, hi=1, doc="RLS forgetting factor lambda (1: no forgetting)"),
    Param("reg", float, 1.0, lo=0, lo_open=True, doc="ridge prior on W: P_0 = I / reg"),
    BIAS,
    Param("p_trace_max", float, 0.0, lo=0, doc="cap on trace(P) (0: 1000 x trace(P_0))"),
    Param("ridge", float, 0.0, lo=0, doc="when calibration ends, refit W as ridge regression over the calibration "
                                         "packets, penalty ridge x the mean squared rate (0: keep RLS's W)"),
    CALIBRATING,
)
LMS = Params(
    N_INPUTS, N_OUTPUTS, TAU_MS,
    Param("mu", float, 0.05, lo=0, lo_open=True, hi=2, hi_open=True, doc="normalised step size (stable in (0, 2))"),
    Param("eps", float, 1.0, lo=0, lo_open=True, doc="regulariser of the normalisation"),
    BIAS, CALIBRATING,
)
RLSParams = params_dataclass("RLSParams", RLS, __name__)
LMSParams = params_dataclass("LMSParams", LMS, __name__)


class _LinearReadout(Decoder):
    _part_names = ("rates",)

    def __init__(self, p):
        super().__init__(p.n_inputs, p.n_outputs, p.calibrating)
        self.params = p
        self.rates = ExpRates(p.n_inputs, p.tau_ms)
        D = p.n_inputs + (1 if p.bias else 0)
        self.x = np.zeros(D)
        if p.bias:
            self.x[-1] = 1.0
        self.W = np.zeros((D, p.n_outputs))
        self.n_updates = np.zeros(1, np.int64)

    def features(self, idx, t_us, until_us) -> np.ndarray:
        self.rates.add(idx, t_us)
        self.rates.read(until_us, self.x[: self.n_inputs])
        return self.x

    def _decode(self, idx, t_us, until_us, target):
        x = self.features(idx, t_us, until_us)
        _predict(self.W, x, self.out)
        if target is not None:
            self._update(x, target)
            self.n_updates[0] += 1
        return self.out


@DECODERS.register("linear_rls")
class LinearRLS(_LinearReadout):
    """Linear readout of exponentially filtered rates, trained by RLS while calibrating."""

    PARAMS = RLS
    _array_names = ("W", "P", "n_updates")

    def __init__(self, **kw):
        p = build_params(RLSParams, kw)
        super().__init__(p)
        D = self.W.shape[0]
        self.P = np.eye(D) / p.reg
        self._trace_max = p.p_trace_max or 1000.0 * D / p.reg
        self._Px = np.zeros(D)
        if p.ridge > 0:
            self.G = np.zeros((D, D))
            self.B = np.zeros((D, p.n_outputs))
            self._array_names = (*self._array_names, "G", "B")

    def _update(self, x, y):
        if self.params.ridge > 0:
            _accumulate(self.G, self.B, x, y, self.params.forgetting)
        _rls_update(self.P, self.W, x, y, self.out, self.params.forgetting, self._trace_max, self._Px)

    def _on_calibration(self, on: bool) -> None:
        if not on and self.params.ridge > 0:
            W = ridge_fit(self.G, self.B, self.params.ridge, self.params.bias)
            if W is not None:
                self.W[...] = W


@DECODERS.register("linear_lms")
class LinearLMS(_LinearReadout):
    """Linear readout of exponentially filtered rates, trained by normalised LMS while calibrating."""

    PARAMS = LMS
    _array_names = ("W", "n_updates")

    def __init__(self, **kw):
        super().__init__(build_params(LMSParams, kw))

    def _update(self, x, y):
        _nlms_update(self.W, x, y, self.out, self.params.mu, self.params.eps)
