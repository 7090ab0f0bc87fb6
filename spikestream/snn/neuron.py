"""Neuron-model descriptions: state variables, parameters with literature defaults, presets.

*What* a model is lives here and in each ``model_*.py`` (a `NeuronModel` registered in
`spikestream.registry.NEURON_MODELS`); *how* it steps is that module's ``@njit`` kernel, chosen by the
model's integer ``code`` once per layer and step inside `spikestream.snn.kernel`.

Every kernel has the signature
``step(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk)`` and advances neurons
``lo..hi-1`` by one network step (``pc[C_NSUB]`` sub-steps of ``pc[C_H]`` ms), decaying their synaptic
variables ``syn`` on the way, and writes ``spk[i] = 1`` for a neuron that fired (``vpk[i]`` its value at
the threshold crossing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# --- model codes (the kernel's dispatch key) -------------------------------------------------------------
M_INPUT, M_LIF, M_ADEX, M_IZH, M_HH, M_FHN, M_ML, M_HR, M_POISSON = range(9)

# --- per-layer common parameter vector `pc` -------------------------------------------------------------
(C_DEXC, C_DINH, C_EEXC, C_EINH, C_REF, C_NOISE, C_NSUB, C_H, C_THETA_PLUS, C_THETA_DECAY, C_WTA,
 C_DT) = range(12)
N_COMMON = 12
#: Length of the per-layer model parameter vector `pm`.
N_PM = 24
#: Maximum number of state variables of a model (rows of the state array `S`).
N_VARS = 4

#: Parameters every layer takes besides its model's own (defaults; None = the model's own default).
COMMON_PARAMS: dict[str, float | None] = {
    "tau_exc_ms": 5.0,     # decay of excitatory synaptic current / conductance
    "tau_inh_ms": 10.0,    # decay of inhibitory synaptic current / conductance
    "e_exc": None,         # reversal potential of excitatory conductances (model units)
    "e_inh": None,         # reversal potential of inhibitory conductances
    "t_ref_ms": None,      # absolute refractory period (reset models)
    "noise": 0.0,          # white noise on v: v += noise * sqrt(h_ms) * N(0, 1) per sub-step
    "i_bias": 0.0,         # constant input (model input units); per neuron with set_bias()
    "substep_ms": None,    # largest integration sub-step; the network dt is split evenly
    "theta_plus": 0.0,     # adaptive threshold: theta += theta_plus per spike (while learning)
    "tau_theta_ms": 0.0,   # adaptive threshold decay; 0 = no decay
    "wta_k": 0,            # k-winners-take-all per step; 0 = off
}


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model as a pipeline file names it."""

    name: str
    code: int
    variables: tuple[str, ...]
    #: Model parameters and literature defaults, in the order `pack` expects.
    params: dict[str, float]
    #: (params, dt_ms, h_ms) -> pm vector of length N_PM.
    pack: Callable[[dict, float, float], np.ndarray]
    #: params -> initial value of each variable.
    init: Callable[[dict], dict[str, float]]
    substep_ms: float = 0.0         # 0 = one sub-step per network step
    e_exc: float = 0.0
    e_inh: float = -80.0
    t_ref_ms: float = 0.0
    spiking: str = "reset"          # "reset" (threshold and reset) or "crossing" (upward crossing of v_th)
    presets: dict[str, dict[str, float]] = field(default_factory=dict)
    reference: str = ""

    def __post_init__(self) -> None:
        if len(self.variables) > N_VARS:
            raise ValueError(f"model {self.name}: at most {N_VARS} state variables")


def pack_in_order(params: dict, names: list[str] | tuple[str, ...], extra: list[float] = ()) -> np.ndarray:
    pm = np.zeros(N_PM)
    vals = [float(params[k]) for k in names] + [float(x) for x in extra]
    if len(vals) > N_PM:
        raise ValueError("too many model parameters")
    pm[: len(vals)] = vals
    return pm


def substeps(dt_ms: float, substep_ms: float) -> tuple[int, float]:
    """How many sub-steps of at most `substep_ms` split one network step, and their length."""
    if substep_ms <= 0 or substep_ms >= dt_ms:
        return 1, dt_ms
    n = int(math.ceil(dt_ms / substep_ms - 1e-9))
    return n, dt_ms / n
