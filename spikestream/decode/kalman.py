"""Kalman filter decoder fitted from calibration data (Wu et al. 2006), and its steady-state variant
(Malik et al. 2011).

Model, one step per spike packet (packets are assumed to be of equal length)::

    x_t = A x_{t-1} + a + w,   w ~ N(0, W)        (x: the K target values)
    z_t = H x_t + d + q,       q ~ N(0, Q)        (z: the N neuron rates from `RateFeatures`)

While `calibrating` the decoder accumulates the sufficient statistics of the pairs (x_t, z_t); when
calibration stops (or `fit()` is called) ``[A a]`` and ``[H d]`` are the least-squares regressions of
``x_t`` on ``[x_{t-1}, 1]`` and of ``z_t`` on ``[x_t, 1]``, ``W`` and ``Q`` their residual covariances
(``Q`` gets ``q_floor`` added to its diagonal so silent neurons do not make it singular; ``W`` gets
``w_floor``). The filter runs in information form, so its cost per step is O(K^3 + K N), not O(N^3)::

    x- = A x + a;  P- = A P A^T + W
    P  = (P-^-1 + H^T Q^-1 H)^-1;  x = x- + P H^T Q^-1 (z - H x- - d)

``kalman_ss`` iterates the Riccati recursion to convergence once at fit time and then runs the fixed
gain ``x = x- + K_ss (z - H x- - d)``, O(K N) per step (Malik et al. 2011).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from spikestream.decode._base import CALIBRATING, N_INPUTS, N_OUTPUTS, TAU_MS, WINDOW, WINDOW_MS, Decoder, build_params
from spikestream.decode.rates import RateFeatures
from spikestream.params import Param, Params, params_dataclass
from spikestream.registry import DECODERS


@njit(cache=True)
def _spd_inverse(M, out, L):
    """out = M^-1 for a symmetric positive definite M (Cholesky), no allocation."""
    n = M.shape[0]
    for i in range(n):
        for j in range(i + 1):
            s = M[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                L[i, i] = math.sqrt(s if s > 1e-300 else 1e-300)
            else:
                L[i, j] = s / L[j, j]
        for j in range(i + 1, n):
            L[i, j] = 0.0
    # invert L in place into out (lower triangular), then out = L^-T L^-1
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
    for c in range(n):
        for i in range(c, n):
            s = 1.0 if i == c else 0.0
            for k in range(c, i):
                s -= L[i, k] * out[k, c]
            out[i, c] = s / L[i, i]
    for i in range(n):  # out <- Linv^T Linv, using L as scratch for Linv
        for j in range(n):
            L[i, j] = out[i, j]
    for i in range(n):
        for j in range(i + 1):
            s = 0.0
            for k in range(i, n):
                s += L[k, i] * L[k, j]
            out[i, j] = s
            out[j, i] = s


@njit(cache=True)
def _kf_step(x, P, z, A, a, W, H, d, HtQi, HtQiH, xp, Pp, M, Minv, L, innov, tmp):
    K = x.size
    N = z.size
    for i in range(K):  # prior
        s = a[i]
        for j in range(K):
            s += A[i, j] * x[j]
        xp[i] = s
    for i in range(K):
        for j in range(K):
            s = 0.0
            for k in range(K):
                s += A[i, k] * P[k, j]
            tmp[i, j] = s
    for i in range(K):
        for j in range(K):
            s = W[i, j]
            for k in range(K):
                s += tmp[i, k] * A[j, k]
            Pp[i, j] = s
    _spd_inverse(Pp, Minv, L)  # posterior covariance P = (Pp^-1 + H^T Q^-1 H)^-1
    for i in range(K):
        for j in range(K):
            M[i, j] = Minv[i, j] + HtQiH[i, j]
    _spd_inverse(M, P, L)
    for n in range(N):  # innovation
        s = z[n] - d[n]
        for k in range(K):
            s -= H[n, k] * xp[k]
        innov[n] = s
    for i in range(K):  # tmp[:, 0] = H^T Q^-1 innov
        s = 0.0
        for n in range(N):
            s += HtQi[i, n] * innov[n]
        tmp[i, 0] = s
    for i in range(K):
        s = xp[i]
        for j in range(K):
            s += P[i, j] * tmp[j, 0]
        x[i] = s


@njit(cache=True)
def _kf_ss_step(x, z, A, a, H, d, Kss, xp, innov):
    K = x.size
    N = z.size
    for i in range(K):
        s = a[i]
        for j in range(K):
            s += A[i, j] * x[j]
        xp[i] = s
    for n in range(N):
        s = z[n] - d[n]
        for k in range(K):
            s -= H[n, k] * xp[k]
        innov[n] = s
    for i in range(K):
        s = xp[i]
        for n in range(N):
            s += Kss[i, n] * innov[n]
        x[i] = s


KALMAN = Params(
    N_INPUTS, N_OUTPUTS, WINDOW, TAU_MS, WINDOW_MS,
    Param("q_floor", float, 1.0, unit="(spikes/s)^2", lo=0, lo_open=True,
          doc="added to diag(Q), the observation noise"),
    Param("w_floor", float, 1e-6, lo=0, lo_open=True, doc="added to diag(W), the state noise"),
    CALIBRATING,
).with_defaults(window_ms=100.0)
KalmanParams = params_dataclass("KalmanParams", KALMAN, __name__)


@DECODERS.register("kalman")
class KalmanDecoder(Decoder):
    """Kalman filter decoder (Wu et al. 2006): fitted when calibration ends, information-form update."""

    steady_state = False
    PARAMS = KALMAN
    _part_names = ("features",)
    _array_names = ("S11", "S21", "S22", "T00", "Tz", "Tzz", "prev", "n_pairs", "A", "a", "W", "H", "d", "HtQi",
                    "HtQiH", "Kss", "fitted", "x", "P")

    def __init__(self, **kw):
        p = build_params(KalmanParams, kw)
        super().__init__(p.n_inputs, p.n_outputs, p.calibrating)
        self.params = p
        N, K = p.n_inputs, p.n_outputs
        K1 = K + 1
        self.features = RateFeatures(N, p.window, p.tau_ms, p.window_ms)
        # sufficient statistics
        self.S11 = np.zeros((K1, K1))  # sum xa_{t-1} xa_{t-1}^T
        self.S21 = np.zeros((K, K1))   # sum x_t xa_{t-1}^T
        self.S22 = np.zeros((K, K))    # sum x_t x_t^T  (over the same t as S21)
        self.T00 = np.zeros((K1, K1))  # sum xa_t xa_t^T
        self.Tz = np.zeros((N, K1))    # sum z_t xa_t^T
        self.Tzz = np.zeros((N, N))    # sum z_t z_t^T
        self.prev = np.zeros(K1)       # xa_{t-1}; prev[-1] = 0 means none yet
        self.n_pairs = np.zeros(2, np.int64)  # [observation pairs, transition pairs]
        # fitted model and filter state
        self.A, self.a, self.W = np.eye(K), np.zeros(K), np.eye(K)
        self.H, self.d = np.zeros((N, K)), np.zeros(N)
        self.HtQi, self.HtQiH, self.Kss = np.zeros((K, N)), np.zeros((K, K)), np.zeros((K, N))
        self.fitted = np.zeros(1, np.int64)
        self.x, self.P = np.zeros(K), np.eye(K)
        self._scratch = [np.zeros(K), np.zeros((K, K)), np.zeros((K, K)), np.zeros((K, K)), np.zeros((K, K)),
                         np.zeros(N), np.zeros((K, K))]

    # ------------------------------------------------------------------ learning
    def _accumulate(self, y, z):
        xa = np.append(y, 1.0)
        self.T00 += np.outer(xa, xa)
        self.Tz += np.outer(z, xa)
        self.Tzz += np.outer(z, z)
        self.n_pairs[0] += 1
        if self.prev[-1] == 1.0:
            self.S11 += np.outer(self.prev, self.prev)
            self.S21 += np.outer(y, self.prev)
            self.S22 += np.outer(y, y)
            self.n_pairs[1] += 1
        self.prev[:] = xa

    def fit(self) -> None:
        """Fit A, a, W, H, d, Q from the statistics gathered so far (needs a few calibration packets)."""
        p = self.params
        n_obs, n_tr = int(self.n_pairs[0]), int(self.n_pairs[1])
        K, N = self.n_outputs, self.n_inputs
        if n_tr < K + 2:
            raise ValueError(f"kalman: {n_tr} calibration steps are too few to fit {K} outputs")
        ridge = 1e-9 * np.eye(K + 1)
        Aa = np.linalg.solve(self.S11 + ridge, self.S21.T).T  # [A a]
        W = (self.S22 - Aa @ self.S21.T - self.S21 @ Aa.T + Aa @ self.S11 @ Aa.T) / n_tr
        Hd = np.linalg.solve(self.T00 + ridge, self.Tz.T).T   # [H d]
        Q = (self.Tzz - Hd @ self.Tz.T - self.Tz @ Hd.T + Hd @ self.T00 @ Hd.T) / n_obs
        W = 0.5 * (W + W.T) + p.w_floor * np.eye(K)
        Q = 0.5 * (Q + Q.T) + p.q_floor * np.eye(N)
        self.A[:], self.a[:], self.W[:] = Aa[:, :K], Aa[:, K], W
        self.H[:], self.d[:] = Hd[:, :K], Hd[:, K]
        Qi = np.linalg.inv(Q)
        self.HtQi[:] = self.H.T @ Qi
        self.HtQiH[:] = self.HtQi @ self.H
        self.HtQiH[:] = 0.5 * (self.HtQiH + self.HtQiH.T)
        Pss = self._steady_covariance()
        self.Kss[:] = Pss @ self.HtQi
        self.P[:] = Pss  # start the filter settled, from the last calibration target
        self.x[:] = self.prev[:K]
        self.fitted[0] = 1

    def _steady_covariance(self) -> np.ndarray:
        P = self.W.copy()
        for _ in range(10_000):
            Pp = self.A @ P @ self.A.T + self.W
            Pn = np.linalg.inv(np.linalg.inv(Pp) + self.HtQiH)
            if np.max(np.abs(Pn - P)) <= 1e-12 * max(1.0, np.max(np.abs(Pn))):
                P = Pn
                break
            P = Pn
        return P

    def _on_calibration(self, on: bool) -> None:
        if not on and self.n_pairs[1] >= self.n_outputs + 2:
            self.fit()

    # ------------------------------------------------------------------ decoding
    def _decode(self, idx, t_us, until_us, target):
        z = self.features.step(idx, t_us, until_us)
        if target is not None:
            self._accumulate(target, z)
        if self.fitted[0]:
            xp, Pp, M, Minv, L, innov, tmp = self._scratch
            if self.steady_state:
                _kf_ss_step(self.x, z, self.A, self.a, self.H, self.d, self.Kss, xp, innov)
            else:
                _kf_step(self.x, self.P, z, self.A, self.a, self.W, self.H, self.d, self.HtQi, self.HtQiH,
                         xp, Pp, M, Minv, L, innov, tmp)
        self.out[:] = self.x
        return self.out


@DECODERS.register("kalman_ss")
class SteadyStateKalmanDecoder(KalmanDecoder):
    """Steady-state Kalman filter decoder (Malik et al. 2011): fixed gain, O(K N) per step."""

    steady_state = True
