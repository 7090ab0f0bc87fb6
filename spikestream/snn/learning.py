"""Learning rules as a pipeline file names them: parameters -> the projection's vector `pp`.

The update kernels are in `spikestream.snn.plasticity`. All rules use traces kept per neuron and
projection (pre traces x1, x2; post traces y1, y2), decayed once per network step, so a pair of spikes at
pre time t_pre and post time t_post = t_pre + dt changes the weight by ``a_plus * exp(-dt / tau_plus)``
(dt > 0) or ``-a_minus * exp(dt / tau_minus)`` (dt < 0), on the step grid.

Spike timing is taken at the soma: pre-synaptic spikes count at emission (the transmission delay only
delays the synaptic current), matching a Brian2 model whose STDP pathway has delay 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikestream.registry import LEARNING_RULES, UnknownKind

R_NONE, R_PAIR, R_TRIPLET, R_RSTDP, R_BCM = range(5)

(P_APLUS, P_AMINUS, P_WMIN, P_WMAX, P_DX1, P_DY1, P_DX2, P_DY2, P_A3PLUS, P_A3MINUS, P_SOFT, P_NEAREST,
 P_DELIG, P_LR, P_DREW, P_RCH, P_NORM_TARGET, P_NORM_EVERY, P_DRHO, P_RHO_INC, P_RHO0) = range(21)
N_PP = 21


def _decay(tau_ms: float, dt_ms: float, what: str) -> float:
    if not tau_ms > 0 or not math.isfinite(tau_ms):
        raise ValueError(f"{what} must be a positive number of ms, got {tau_ms!r}")
    return math.exp(-dt_ms / tau_ms)


def _take(params: dict[str, Any], defaults: dict[str, Any], rule: str) -> dict[str, Any]:
    unknown = set(params) - set(defaults) - {"rule"}
    if unknown:
        raise ValueError(f"plasticity rule {rule!r}: unknown parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(defaults)}")
    out = dict(defaults)
    out.update({k: v for k, v in params.items() if k != "rule"})
    for k, v in out.items():
        if k in ("bound", "interaction", "preset"):
            continue
        if v is None:
            raise ValueError(f"plasticity rule {rule!r}: parameter {k!r} is required")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"plasticity rule {rule!r}: {k} must be a finite number, got {v!r}")
    if out["w_max"] <= out["w_min"]:
        raise ValueError(f"plasticity rule {rule!r}: w_max ({out['w_max']}) must exceed w_min ({out['w_min']})")
    if out["w_min"] < 0:
        raise ValueError(f"plasticity rule {rule!r}: w_min must be >= 0 (the receptor gives the sign)")
    return out


def _flags(out: dict, rule: str) -> tuple[float, float]:
    bound = out.get("bound", "hard")
    inter = out.get("interaction", "all")
    if bound not in ("hard", "soft"):
        raise ValueError(f"plasticity rule {rule!r}: bound must be 'hard' (additive) or 'soft' (multiplicative)")
    if inter not in ("all", "nearest"):
        raise ValueError(f"plasticity rule {rule!r}: interaction must be 'all' or 'nearest'")
    return float(bound == "soft"), float(inter == "nearest")


@dataclass(frozen=True)
class Rule:
    name: str
    code: int
    defaults: dict[str, Any]

    def build(self, params: dict[str, Any], dt_ms: float) -> np.ndarray:
        raise NotImplementedError


_PAIR = {"a_plus": 0.01, "a_minus": 0.0105, "tau_plus_ms": 20.0, "tau_minus_ms": 20.0, "w_min": 0.0,
         "w_max": 1.0, "bound": "hard", "interaction": "all"}


@dataclass(frozen=True)
class PairSTDP(Rule):
    """Pair STDP (Song, Miller & Abbott 2000); ``bound = "soft"`` is the multiplicative rule
    (van Rossum et al. 2000): potentiation scaled by (w_max - w), depression by (w - w_min)."""

    def build(self, params: dict[str, Any], dt_ms: float) -> np.ndarray:
        p = _take(params, self.defaults, self.name)
        pp = np.zeros(N_PP)
        pp[P_APLUS], pp[P_AMINUS] = p["a_plus"], p["a_minus"]
        pp[P_WMIN], pp[P_WMAX] = p["w_min"], p["w_max"]
        pp[P_DX1] = _decay(p["tau_plus_ms"], dt_ms, "tau_plus_ms")
        pp[P_DY1] = _decay(p["tau_minus_ms"], dt_ms, "tau_minus_ms")
        pp[P_DX2] = pp[P_DY2] = 1.0
        pp[P_SOFT], pp[P_NEAREST] = _flags(p, self.name)
        if self.code == R_RSTDP:
            pp[P_DELIG] = _decay(p["tau_elig_ms"], dt_ms, "tau_elig_ms")
            pp[P_DREW] = _decay(p["tau_reward_ms"], dt_ms, "tau_reward_ms")
            pp[P_LR] = p["lr"] * dt_ms
            ch = p["reward_channel"]
            if ch < 0 or int(ch) != ch:
                raise ValueError("rstdp: reward_channel must be a non-negative integer")
            pp[P_RCH] = ch
        return pp


#: Pfister & Gerstner (2006) fitted parameter sets of the full triplet model (their Tables 3-4; tau_plus
#: 16.8 ms, tau_minus 33.7 ms for all). visual_all_to_all equals NEST's stdp_triplet_synapse defaults.
TRIPLET_PRESETS: dict[str, dict[str, float | str]] = {
    "visual_all_to_all": {"tau_x_ms": 101.0, "tau_y_ms": 125.0, "a2_plus": 5e-10, "a3_plus": 6.2e-3,
                          "a2_minus": 7e-3, "a3_minus": 2.3e-4, "interaction": "all"},
    "visual_nearest": {"tau_x_ms": 714.0, "tau_y_ms": 40.0, "a2_plus": 8.8e-11, "a3_plus": 5.3e-2,
                       "a2_minus": 6.6e-3, "a3_minus": 3.1e-3, "interaction": "nearest"},
    "hippocampal_all_to_all": {"tau_x_ms": 946.0, "tau_y_ms": 27.0, "a2_plus": 6.1e-3, "a3_plus": 6.7e-3,
                               "a2_minus": 1.6e-3, "a3_minus": 1.4e-3, "interaction": "all"},
    "hippocampal_nearest": {"tau_x_ms": 575.0, "tau_y_ms": 47.0, "a2_plus": 4.6e-3, "a3_plus": 9.1e-3,
                            "a2_minus": 3e-3, "a3_minus": 7.5e-9, "interaction": "nearest"},
}


@dataclass(frozen=True)
class TripletSTDP(Rule):
    """Triplet STDP (Pfister & Gerstner 2006): on pre, w -= y1 (a2_minus + a3_minus x2(t-));
    on post, w += x1 (a2_plus + a3_plus y2(t-)). Weights hard-bounded to [w_min, w_max]."""

    def build(self, params: dict[str, Any], dt_ms: float) -> np.ndarray:
        preset = params.get("preset", "visual_all_to_all")
        if preset not in TRIPLET_PRESETS:
            raise ValueError(f"stdp_triplet: unknown preset {preset!r}; known: {sorted(TRIPLET_PRESETS)}")
        merged = {**TRIPLET_PRESETS[preset], **{k: v for k, v in params.items() if k != "preset"}}
        p = _take(merged, {**self.defaults, **TRIPLET_PRESETS[preset]}, self.name)
        pp = np.zeros(N_PP)
        pp[P_APLUS], pp[P_AMINUS] = p["a2_plus"], p["a2_minus"]
        pp[P_A3PLUS], pp[P_A3MINUS] = p["a3_plus"], p["a3_minus"]
        pp[P_WMIN], pp[P_WMAX] = p["w_min"], p["w_max"]
        pp[P_DX1] = _decay(p["tau_plus_ms"], dt_ms, "tau_plus_ms")
        pp[P_DY1] = _decay(p["tau_minus_ms"], dt_ms, "tau_minus_ms")
        pp[P_DX2] = _decay(p["tau_x_ms"], dt_ms, "tau_x_ms")
        pp[P_DY2] = _decay(p["tau_y_ms"], dt_ms, "tau_y_ms")
        pp[P_SOFT], pp[P_NEAREST] = _flags(p, self.name)
        if pp[P_SOFT]:
            raise ValueError("stdp_triplet: only hard bounds are supported")
        return pp


def triplet_threshold_hz(p: dict[str, Any]) -> float:
    """The post rate (Hz) above which the triplet rule potentiates, for Poisson pre and post at rates much
    below 1/tau (Pfister & Gerstner 2006, the BCM link): a2_minus tau_minus / (a3_plus tau_plus tau_y),
    ignoring the a2_plus and a3_minus terms (zero in their minimal model)."""
    return p["a2_minus"] * p["tau_minus_ms"] * 1e3 / (p["a3_plus"] * p["tau_plus_ms"] * p["tau_y_ms"])


@dataclass(frozen=True)
class BCMTriplet(TripletSTDP):
    """Triplet STDP with BCM's sliding threshold (Pfister & Gerstner 2006, minimal model and BCM link;
    Clopath et al. 2010's homeostatic LTD amplitude): the pair depression amplitude of each post neuron j is
    ``a2_minus * rho_j**2 / rate_hz**2``, where rho_j (Hz) is j's running rate,
    ``d rho_j / dt = -rho_j / tau_rate + sum_spikes delta(t - t_j)`` (per spike rho_j += 1 / tau_rate), kept
    as state `rho` and starting at rate_hz. A neuron firing above rate_hz depresses more, so its threshold
    rises with it and its rate settles near rate_hz**2 / theta (theta: `triplet_threshold_hz`).
    ``rate_hz`` defaults to theta of the parameter set (18.1 Hz for visual_all_to_all): the fixed point is
    then the triplet rule's own threshold, and no rate is tuned per data set."""

    def build(self, params: dict[str, Any], dt_ms: float) -> np.ndarray:
        own = ("tau_rate_ms", "rate_hz")
        triplet = TripletSTDP(self.name, self.code, _TRIPLET_RULE.defaults)
        pp = triplet.build({k: v for k, v in params.items() if k not in own}, dt_ms)
        preset = params.get("preset", "visual_all_to_all")
        merged = {**self.defaults, **TRIPLET_PRESETS[preset],
                  **{k: v for k, v in params.items() if k not in ("preset", "rule")}}
        rate = merged.get("rate_hz")
        if rate is None:
            rate = triplet_threshold_hz(merged)
        tau = merged["tau_rate_ms"]
        for k, v in (("rate_hz", rate), ("tau_rate_ms", tau)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise ValueError(f"stdp_bcm: {k} must be a positive number, got {v!r}")
        pp[P_DRHO] = _decay(tau, dt_ms, "tau_rate_ms")
        pp[P_RHO_INC] = 1e3 / tau
        pp[P_RHO0] = rate
        return pp


LEARNING_RULES.register("stdp_pair")(PairSTDP("stdp_pair", R_PAIR, dict(_PAIR)))
_TRIPLET_RULE = LEARNING_RULES.register("stdp_triplet")(TripletSTDP("stdp_triplet", R_TRIPLET, {
    "tau_plus_ms": 16.8, "tau_minus_ms": 33.7, "tau_x_ms": None, "tau_y_ms": None, "a2_plus": None,
    "a3_plus": None, "a2_minus": None, "a3_minus": None, "w_min": 0.0, "w_max": 1.0, "bound": "hard",
    "interaction": "all", "preset": "visual_all_to_all"}))
LEARNING_RULES.register("stdp_bcm")(BCMTriplet("stdp_bcm", R_BCM, {
    **_TRIPLET_RULE.defaults, "tau_rate_ms": 1000.0, "rate_hz": None}))
LEARNING_RULES.register("rstdp")(PairSTDP("rstdp", R_RSTDP, {
    **_PAIR, "tau_elig_ms": 1000.0, "tau_reward_ms": 200.0, "lr": 1.0, "reward_channel": 0}))


def build_rule(spec: dict[str, Any], dt_ms: float) -> tuple[int, np.ndarray]:
    """A connection's ``plasticity = {kind = ..., ...}`` table (``rule`` is the older spelling) -> (rule code,
    pp vector)."""
    if isinstance(spec, dict) and "kind" in spec:
        if "rule" in spec and spec["rule"] != spec["kind"]:
            raise ValueError(f"plasticity names two rules: kind = {spec['kind']!r}, rule = {spec['rule']!r}")
        spec = {"rule": spec["kind"], **{k: v for k, v in spec.items() if k not in ("kind", "rule")}}
    if not isinstance(spec, dict) or "rule" not in spec:
        raise ValueError("plasticity must be a table with a 'kind' key, e.g. {kind = \"stdp_pair\", ...}")
    try:
        rule = LEARNING_RULES.get(spec["rule"])
    except UnknownKind as e:
        raise ValueError(str(e)) from None
    return rule.code, rule.build(spec, dt_ms)
