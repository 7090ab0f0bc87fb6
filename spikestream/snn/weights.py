"""Initial weights and delays of a projection, drawn from a seeded numpy Generator at build time."""

from __future__ import annotations

from typing import Any

import numpy as np

from spikestream.params import check_number
from spikestream.snn.steps import delay_steps


def _num(d: dict, key: str, what: str, default: float | None = None) -> float:
    return check_number(d.get(key, default), f"{what}: '{key}'", required=True)


_WEIGHT_KEYS = {"constant": {"value"}, "uniform": {"low", "high"}, "normal": {"mean", "std"},
                "lognormal": {"mu", "sigma"}}


def init_weights(spec: Any, n: int, rng: np.random.Generator, what: str) -> np.ndarray:
    """``weight = 0.5`` or ``weight = {init = "uniform", low = 0, high = 0.3}`` (also constant/value,
    normal/mean,std and lognormal/mu,sigma). Magnitudes: negative draws are clipped to 0 (the receptor
    gives the sign)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = {"init": "constant", "value": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"{what}: weight must be a number or a table with 'init'")
    kind = spec.get("init", "constant")
    if kind not in _WEIGHT_KEYS:
        raise ValueError(f"{what}: unknown weight init {kind!r}; known: {sorted(_WEIGHT_KEYS)}")
    extra = set(spec) - _WEIGHT_KEYS[kind] - {"init"}
    if extra:
        raise ValueError(f"{what}: weight init {kind!r} takes {sorted(_WEIGHT_KEYS[kind])}, not {sorted(extra)}")
    if kind == "constant":
        w = np.full(n, _num(spec, "value", what))
    elif kind == "uniform":
        lo, hi = _num(spec, "low", what), _num(spec, "high", what)
        if hi < lo:
            raise ValueError(f"{what}: uniform weight needs low <= high")
        w = rng.uniform(lo, hi, n)
    elif kind == "normal":
        w = rng.normal(_num(spec, "mean", what), _num(spec, "std", what), n)
    else:
        w = rng.lognormal(_num(spec, "mu", what), _num(spec, "sigma", what), n)
    if np.any(w < 0) and kind == "constant":
        raise ValueError(f"{what}: weights are magnitudes (>= 0); use receptor = \"inh\" for inhibition")
    return np.maximum(w, 0.0)


def init_delays(spec: Any, n: int, dt_ms: float, rng: np.random.Generator, what: str) -> np.ndarray:
    """``delay_ms = 1.5`` or ``delay_ms = {low = 1, high = 5}`` (uniform) -> whole steps (half a step
    rounds up, as in Brian2: `spikestream.snn.steps.delay_steps`)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        d = np.full(n, float(spec))
    elif isinstance(spec, dict):
        extra = set(spec) - {"low", "high"}
        if extra:
            raise ValueError(f"{what}: delay_ms table takes low, high; not {sorted(extra)}")
        lo, hi = _num(spec, "low", what), _num(spec, "high", what)
        if hi < lo:
            raise ValueError(f"{what}: delay needs low <= high")
        d = rng.uniform(lo, hi, n)
    else:
        raise ValueError(f"{what}: delay_ms must be a number or {{low, high}}")
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ValueError(f"{what}: delays must be finite and >= 0")
    steps = delay_steps(d, dt_ms)
    if steps.size and steps.max() > 30000:
        raise ValueError(f"{what}: delay of {steps.max()} steps is too long (max 30000)")
    return steps.astype(np.int16)
