"""Neuron-model descriptions: state variables, parameters with literature defaults, presets.

A model is one ``model_*.py`` (or any module, e.g. a plugin or a test): it declares its state variables and
its kernel's parameter slots by name with `slots` (``V = slots("v", "w")``, ``P = slots("tau_m", "v_th")``),
writes its ``@njit`` step reading ``S[V.v, i]`` and ``pm[P.v_th]`` (Numba folds these to constants), and
registers a `NeuronModel` in `spikestream.registry.NEURON_MODELS`. Declaring the model gives its step an
integer ``code``; `spikestream.snn._dispatch` generates the network loop's dispatch over every declared
step (no hand-kept code table, no elif chain), and `NeuronModel.pack` puts the parameter values in their
slots by name.

Every kernel has the signature
``step(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk)`` and advances neurons
``lo..hi-1`` by one network step (``pc[C_NSUB]`` sub-steps of ``pc[C_H]`` ms), decaying their synaptic
variables ``syn`` on the way, and writes ``spk[i] = 1`` for a neuron that fired (``vpk[i]`` its value at
the threshold crossing).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from spikestream._codegen import slots  # noqa: F401 (models declare their slots with it)

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


#: Codes of the steps that were numbered by hand before the registry assigned codes, kept so that a saved
#: network state (its signature lists the layers' codes) still loads. Frozen: do not add to it.
_FIXED_CODES = {f"spikestream.snn.{m}": c for m, c in (
    ("model_lif.step_lif", 1), ("model_adex.step_adex", 2), ("model_izhikevich.step_izhikevich", 3),
    ("model_hh.step_hh", 4), ("model_planar.step_fhn", 5), ("model_planar.step_ml", 6),
    ("model_hr.step_hr", 7), ("model_poisson.step_poisson", 8))}
#: code -> step kernel of every declared model (what the generated dispatch calls).
STEPS: dict[int, Callable] = {}
_STEP_KEYS: dict[int, str] = {}


def step_key(step: Callable) -> str:
    """A step kernel's identity across processes: ``module.qualname`` of its Python function."""
    f = getattr(step, "py_func", step)
    return f"{f.__module__}.{f.__qualname__}"


def step_code(step: Callable) -> int:
    """The dispatch code of a step kernel, the same in every process whatever else is registered (a saved
    state's signature holds it): the fixed code of a built-in step, else 16 + CRC-32 of its `step_key`."""
    key = step_key(step)
    return _FIXED_CODES.get(key, 16 + zlib.crc32(key.encode()))


def declare_step(step: Callable) -> int:
    """Add a step kernel to `STEPS` (what the generated dispatch calls); returns its code."""
    if not hasattr(step, "py_func"):
        raise ValueError(f"a neuron model's step must be an @njit function, got {step!r}")
    key, code = step_key(step), step_code(step)
    if _STEP_KEYS.get(code, key) != key:
        raise ValueError(f"step {key} has the same code as {_STEP_KEYS[code]}; rename one")
    _STEP_KEYS[code] = key
    STEPS[code] = step
    return code


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model as a pipeline file names it. `variables` and `slots` are names or `slots(...)`."""

    name: str
    #: The @njit kernel (signature in the module docstring); several models may share one.
    step: Callable
    #: State variables: the rows of the state array `S` the step reads, in order.
    variables: tuple[str, ...]
    #: The kernel's parameter slots: the entries of `pm` the step reads, in order.
    slots: tuple[str, ...]
    #: Model parameters and literature defaults (what a pipeline file sets).
    params: dict[str, float]
    #: params -> initial value of each variable.
    init: Callable[[dict], dict[str, float]]
    #: (params, dt_ms, h_ms) -> {slot: value}; raises ValueError for a bad value. None: the slots are
    #: parameters of the same names.
    derive: Callable[[dict, float, float], dict[str, float]] | None = None
    substep_ms: float = 0.0         # 0 = one sub-step per network step
    e_exc: float = 0.0
    e_inh: float = -80.0
    t_ref_ms: float = 0.0
    spiking: str = "reset"          # "reset" (threshold and reset) or "crossing" (upward crossing of v_th)
    presets: dict[str, dict[str, float]] = field(default_factory=dict)
    reference: str = ""
    #: The step's dispatch code, assigned on declaration (`declare_step`).
    code: int = field(init=False)

    def __post_init__(self) -> None:
        for what in ("variables", "slots"):
            v = getattr(self, what)
            if hasattr(v, "_fields"):  # slots(...): its indices must be 0, 1, ... (the packing order)
                if tuple(v) != tuple(range(len(v))):
                    raise ValueError(f"model {self.name}: {what} must come from slots(...)")
                v = v._fields
            object.__setattr__(self, what, slots(*v)._fields)  # distinct identifiers
        if len(self.variables) > N_VARS:
            raise ValueError(f"model {self.name}: at most {N_VARS} state variables")
        if len(self.slots) > N_PM:
            raise ValueError(f"model {self.name}: at most {N_PM} parameter slots")
        if self.derive is None and not set(self.slots) <= set(self.params):
            raise ValueError(f"model {self.name}: slots {sorted(set(self.slots) - set(self.params))} are not "
                             f"parameters; give a derive function")
        object.__setattr__(self, "code", declare_step(self.step))

    def pack(self, params: dict, dt_ms: float, h_ms: float) -> np.ndarray:
        """The layer's `pm` vector: each slot's value (from `derive`, or the parameter of that name)."""
        vals = params if self.derive is None else self.derive(params, dt_ms, h_ms)
        missing = [k for k in self.slots if k not in vals]
        if missing:
            raise ValueError(f"model {self.name}: no value for slots {missing}")
        pm = np.zeros(N_PM)
        pm[: len(self.slots)] = [float(vals[k]) for k in self.slots]
        return pm


def substeps(dt_ms: float, substep_ms: float) -> tuple[int, float]:
    """How many sub-steps of at most `substep_ms` split one network step, and their length."""
    if substep_ms <= 0 or substep_ms >= dt_ms:
        return 1, dt_ms
    n = int(math.ceil(dt_ms / substep_ms - 1e-9))
    return n, dt_ms / n
