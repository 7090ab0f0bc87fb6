"""Liquid state machine: a fixed random recurrent spiking reservoir and a trained linear readout.

The reservoir (template ``"reservoir"`` in `spikestream.snn.topologies`) never learns; its state is read as
exponentially filtered spike trains, one per reservoir neuron, updated per network step
(``r <- r * exp(-dt/tau); r[i] += 1`` for each spike of neuron i in that step), and only a linear map from
that state to the target is fitted (ridge regression, closed form). Maass, Natschläger & Markram (2002),
Neural Computation 14:2531.

    res = Reservoir(ReservoirParams(n_exc=400, n_inh=100), n_inputs=40)
    res.advance(in_idx, in_t_us, until_us)     # SNN stage contract; returns the reservoir's spikes
    x = res.state()                            # [n_reservoir] filtered spikes at the current time
    ro = LinearReadout(ridge=1e-2).fit(X, Y);  ro.predict(X)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from numba import njit

from spikestream.snn.network import build_snn
from spikestream.snn.topologies import expand


@dataclass(frozen=True)
class ReservoirParams:
    n_exc: int = 400
    n_inh: int = 100
    p_rec: float = 0.1
    w_ee: float = 1.0
    w_ei: float = 2.0
    w_ie: float = 4.0
    w_ii: float = 4.0
    p_in: float = 0.2
    w_in: float = 4.0
    delay_ms: dict = field(default_factory=lambda: {"low": 1.0, "high": 3.0})
    noise: float = 0.0
    dt_us: int = 1000
    seed: int = 0
    tau_readout_ms: float = 30.0  # time constant of the state filter

    def __post_init__(self):
        if not (self.tau_readout_ms > 0 and np.isfinite(self.tau_readout_ms)):
            raise ValueError(f"reservoir: tau_readout_ms must be > 0, got {self.tau_readout_ms}")

    def table(self) -> dict:
        """The SNN table (layers + connections) this reservoir builds."""
        p = asdict(self)
        p.pop("tau_readout_ms")
        return expand("reservoir", p)


@njit(cache=True)
def _filter(r, spk_idx, spk_step, step0, n_steps, decay):
    """Advance the filtered state r over steps step0..step0+n_steps-1 (spikes sorted by step)."""
    j = 0
    n = spk_idx.shape[0]
    for s in range(n_steps):
        step = step0 + s
        for i in range(r.shape[0]):
            r[i] *= decay
        while j < n and spk_step[j] == step:
            r[spk_idx[j]] += 1.0
            j += 1


class Reservoir:
    """A fixed spiking reservoir (SNN stage contract) with its filtered state for a readout."""

    def __init__(self, params: ReservoirParams, n_inputs: int):
        self.params = params
        self.snn = build_snn(params.table(), n_inputs)
        self.snn.learning = False
        self.n_inputs = self.snn.n_inputs
        self.n_outputs = self.snn.n_outputs
        self.dt_us = self.snn.dt_us
        self.learning = False
        self._decay = float(np.exp(-self.dt_us / (params.tau_readout_ms * 1000.0)))
        self._r = np.zeros(self.n_outputs)

    def advance(self, in_idx, in_t_us, until_us: int):
        """Advance the reservoir (see `SNN.advance`) and its filtered state; returns its spikes."""
        if self.snn.time_us is None:
            t = np.asarray(in_t_us)
            self.snn.start(int(t[0]) if t.size else int(until_us))
        step0 = self.snn.time_us // self.dt_us
        oi, ot = self.snn.advance(in_idx, in_t_us, until_us)
        end = self.snn.time_us // self.dt_us
        _filter(self._r, oi.astype(np.int64), (ot // self.dt_us).astype(np.int64), step0, end - step0,
                self._decay)
        return oi, ot

    # ------------------------------------------------------------------ the rest of the SNN contract
    def start(self, t_us: int) -> None:
        self.snn.start(t_us)

    @property
    def time_us(self) -> int | None:
        return self.snn.time_us

    def skip_to(self, t_us: int) -> int:
        """Jump the clock without simulating; the readout state decays over the skipped steps."""
        skipped = self.snn.skip_to(t_us)
        self._r *= self._decay ** skipped
        return skipped

    @property
    def late_spikes(self) -> int:
        return self.snn.late_spikes

    @property
    def late_rewards(self) -> int:
        return self.snn.late_rewards

    def reward(self, t_us, values, channel: int = 0) -> None:
        raise ValueError("reservoir: the reservoir is fixed; train the readout instead of sending rewards")

    def set_bias(self, layer: str, values) -> None:
        self.snn.set_bias(layer, values)

    def stats(self) -> dict:
        return self.snn.stats()

    def state(self) -> np.ndarray:
        """Filtered reservoir spikes at the end of the last simulated step (a copy)."""
        return self._r.copy()

    def reset_state(self) -> None:
        """Clear the readout filter (not the network)."""
        self._r[:] = 0.0

    def get_state(self) -> dict[str, np.ndarray]:
        d = {f"snn.{k}": v for k, v in self.snn.get_state().items()}
        d["readout_r"] = self._r.copy()
        return d

    def set_state(self, d: dict[str, np.ndarray]) -> None:
        if "readout_r" not in d or np.shape(d["readout_r"]) != self._r.shape:
            raise ValueError(f"reservoir state: readout_r missing or not of shape {self._r.shape}")
        self.snn.set_state({k[4:]: v for k, v in d.items() if k.startswith("snn.")})
        self._r[:] = d["readout_r"]


class LinearReadout:
    """Ridge regression ``y = [x, 1] @ W`` (closed form); classification by argmax over one-hot targets."""

    def __init__(self, ridge: float = 1e-2, standardize: bool = True):
        if not (ridge >= 0 and np.isfinite(ridge)):
            raise ValueError(f"readout: ridge must be >= 0, got {ridge}")
        self.ridge = float(ridge)
        self.standardize = standardize
        self.W: np.ndarray | None = None

    def _design(self, X: np.ndarray) -> np.ndarray:
        X = (X - self._mu) / self._sd
        return np.hstack([X, np.ones((X.shape[0], 1))])

    def fit(self, X, Y) -> "LinearReadout":
        X = np.asarray(X, np.float64)
        Y = np.asarray(Y, np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if X.ndim != 2 or Y.shape[0] != X.shape[0] or X.shape[0] == 0:
            raise ValueError(f"readout: X [n, d] and Y [n, k] with matching n > 0, got {X.shape}, {Y.shape}")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
            raise ValueError("readout: X and Y must be finite")
        self._mu = X.mean(0) if self.standardize else np.zeros(X.shape[1])
        sd = X.std(0) if self.standardize else np.ones(X.shape[1])
        self._sd = np.where(sd > 0, sd, 1.0)
        A = self._design(X)
        reg = self.ridge * np.eye(A.shape[1])
        reg[-1, -1] = 0.0  # no penalty on the bias
        self.W = np.linalg.solve(A.T @ A + reg, A.T @ Y)
        return self

    def predict(self, X) -> np.ndarray:
        if self.W is None:
            raise ValueError("readout: fit() first")
        X = np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[1] != self.W.shape[0] - 1:
            raise ValueError(f"readout: X must be [n, {self.W.shape[0] - 1}], got {X.shape}")
        return self._design(X) @ self.W

    def classify(self, X) -> np.ndarray:
        return np.argmax(self.predict(X), axis=1)
