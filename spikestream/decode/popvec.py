"""Population vector decoder (Georgopoulos, Schwartz & Kettner 1986).

Each neuron ``j`` has a baseline ``b_j``, a modulation depth ``m_j`` and a preferred direction ``c_j``
(unit vector in the K-dimensional output space), from cosine tuning ``r_j = b_j + m_j c_j . y``. The
estimate is the rate-weighted sum of preferred directions::

    y_hat = (K / N) sum_j ((r_j - b_j) / m_j) c_j

which is unbiased when the preferred directions cover the space uniformly (it is biased otherwise, the
known limit of the population vector against the optimal linear estimator, Salinas & Abbott 1994).
Tuning comes from ``directions`` (N x K, with ``baselines`` and ``depths``) or is fitted while
calibrating: the per-neuron least-squares regression of ``r_j`` on ``[y, 1]``, from accumulated sums.
"""

from __future__ import annotations

import numpy as np

from spikestream.decode._base import CALIBRATING, N_INPUTS, N_OUTPUTS, TAU_MS, WINDOW, WINDOW_MS, Decoder, build_params
from spikestream.decode.rates import RateFeatures
from spikestream.params import Param, Params, params_dataclass
from spikestream.registry import DECODERS


def _flat(v: list) -> list:
    """N x K numbers (a list of rows or one flat list) as one flat list of floats."""
    try:
        a = np.asarray(v, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"must be numbers (rows of equal length), got {v!r}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"must be finite numbers, got {v!r}")
    return a.tolist()


def _check_tuning(v: dict, table: dict) -> None:
    N, K = v["n_inputs"], v["n_outputs"]
    if v["directions"] and len(v["directions"]) != N * K:
        raise ValueError(f"directions must be {N} x {K}, got {len(v['directions'])} numbers")
    for k in ("baselines", "depths"):
        if v[k] and len(v[k]) != N:
            raise ValueError(f"baselines and depths need {N} values each, {k} has {len(v[k])}")
        if v[k] and not v["directions"]:
            raise ValueError(f"{k} go with directions")


POPVEC = Params(
    N_INPUTS, N_OUTPUTS, WINDOW, TAU_MS, WINDOW_MS,
    Param("directions", list, [], check=_flat,
          doc="N x K preferred directions (normalised here; default: fitted while calibrating)"),
    Param("baselines", list, [], items=float, unit="spikes/s", doc="N baseline rates, with directions (default 0)"),
    Param("depths", list, [], items=float, unit="spikes/s", doc="N modulation depths per unit of output (default 1)"),
    Param("min_depth", float, 1e-3, lo=0, lo_open=True, doc="neurons modulated less than this are left out"),
    CALIBRATING,
    check=_check_tuning,
)
PopVecParams = params_dataclass("PopVecParams", POPVEC, __name__)


@DECODERS.register("population_vector")
class PopulationVector(Decoder):
    """Population vector decoder: cosine tuning given or fitted while calibrating (see the module doc)."""

    _part_names = ("features",)
    _array_names = ("C", "b", "inv_m", "S_yy", "S_yr", "n_cal")
    PARAMS = POPVEC

    def __init__(self, **kw):
        for k in ("directions", "baselines", "depths"):
            if k in kw and not isinstance(kw[k], (list, tuple)):
                kw[k] = np.asarray(kw[k]).reshape(-1).tolist()  # an array
        p = build_params(PopVecParams, kw)
        super().__init__(p.n_inputs, p.n_outputs, p.calibrating)
        self.params = p
        N, K = p.n_inputs, p.n_outputs
        self.features = RateFeatures(N, p.window, p.tau_ms, p.window_ms)
        self.C = np.zeros((N, K))       # preferred directions (unit rows; zero for unused neurons)
        self.b = np.zeros(N)
        self.inv_m = np.zeros(N)        # 1/m_j, 0 for unused neurons
        self.S_yy = np.zeros((K + 1, K + 1))
        self.S_yr = np.zeros((K + 1, N))
        self.n_cal = np.zeros(1, np.int64)
        if p.directions:  # sizes checked with the params (POPVEC's check)
            D = np.asarray(p.directions).reshape(N, K)
            b = np.asarray(p.baselines or np.zeros(N), np.float64)
            m = np.asarray(p.depths or np.ones(N), np.float64)
            self._set_tuning(b, D * m[:, None])

    def _set_tuning(self, b: np.ndarray, k: np.ndarray) -> None:
        """From baselines b[N] and tuning vectors k[N, K] (= m_j c_j)."""
        m = np.linalg.norm(k, axis=1)
        use = m >= self.params.min_depth
        self.b[:] = b
        self.C[:] = 0.0
        self.C[use] = k[use] / m[use, None]
        self.inv_m[:] = np.where(use, 1.0 / np.where(use, m, 1.0), 0.0)
        self._scale = self.n_outputs / max(int(use.sum()), 1)

    _scale = 0.0

    def fit(self) -> None:
        K = self.n_outputs
        if self.n_cal[0] < K + 2:
            raise ValueError(f"population_vector: {int(self.n_cal[0])} calibration steps are too few")
        B = np.linalg.solve(self.S_yy + 1e-9 * np.eye(K + 1), self.S_yr)  # [K+1, N]
        self._set_tuning(B[K], B[:K].T)

    def _decode(self, idx, t_us, until_us, target):
        r = self.features.step(idx, t_us, until_us)
        if target is not None:
            ya = np.append(target, 1.0)
            self.S_yy += np.outer(ya, ya)
            self.S_yr += np.outer(ya, r)
            self.n_cal[0] += 1
            if self.n_cal[0] >= self.n_outputs + 2:
                self.fit()
        w = (r - self.b) * self.inv_m
        np.dot(w, self.C, out=self.out)
        self.out *= self._scale
        return self.out

    def _after_set_state(self) -> None:
        self._scale = self.n_outputs / max(int(np.count_nonzero(self.inv_m)), 1)
