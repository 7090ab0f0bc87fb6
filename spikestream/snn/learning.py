"""Learning rules as a pipeline file names them: declared rules, their parameters -> the projection's `pp` row.

A rule is one ``rule_*.py`` (or any module, e.g. a plugin or a test): it declares its parameters and
defaults, its own slots of `pp` by name (``R = rule_slots("a_plus", "a_minus")``), a ``derive`` from the
checked parameters to slot values, and small ``@njit`` hooks the generic kernels of
`spikestream.snn.plasticity` call, then registers a `LearningRule` in `LEARNING_RULES`:

- ``pre_amp(pp, p, x2)``: the depression amplitude of a pre spike of projection p (x2: the spiking
  neuron's slow pre trace before the spike); once per spike. A pre spike changes each of its synapses by
  ``-amp * y1`` (``bound = "soft"``: ``-amp * y1 * (w - w_min)``).
- ``post_amp(pp, p, y2)``: the potentiation amplitude of a post spike (y2: the neuron's slow post trace
  before the spike); each synapse gains ``amp * x1`` (soft: ``amp * x1 * (w_max - w)``).
- ``rate_amp(pp, p, amp, rate)`` (optional): the per-synapse depression amplitude from the per-spike one
  and the post neuron's running rate (Hz); a rule with it keeps that rate (state `rho`, decaying by the
  common slot ``d_rate``, ``+ rate_inc`` per post spike, starting at ``rate0``).
- ``eligibility = True``: the changes go to a per-synapse eligibility, turned into weight changes each step
  by the reward (R-STDP, common slots ``d_elig``, ``d_reward``, ``lr``, ``reward_channel``).

The generic slots `PC` (weight bounds, trace decays, bound and interaction flags, normalisation, the
eligibility and rate parameters) come first in every row; a rule's own slots follow. Declaring a rule
gives it a ``code`` (fixed for the built-in rules: a saved state's signature lists them);
`spikestream.snn._dispatch` generates the kernels' dispatch over every declared rule's hooks.

All rules use traces kept per neuron and projection (pre traces x1, x2; post traces y1, y2), decayed once
per network step. Spike timing is taken at the soma: pre-synaptic spikes count at emission (the
transmission delay only delays the synaptic current), matching a Brian2 model whose STDP pathway has
delay 0.
"""

from __future__ import annotations

import math
import zlib
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from spikestream._codegen import slots
from spikestream.registry import LEARNING_RULES, UnknownKind

#: The code of a projection without a rule.
R_NONE = 0
#: The generic slots of a projection's `pp` row (what the generic kernels and the build read).
PC = slots("w_min", "w_max", "dx1", "dy1", "dx2", "dy2", "soft", "nearest", "norm_target", "norm_every",
           "elig", "d_elig", "lr", "d_reward", "reward_channel", "rate", "d_rate", "rate_inc", "rate0")
N_PC = len(PC)
#: Length of a projection's `pp` row (generic slots, then the rule's own).
N_PP = N_PC + 12

#: Codes of the rules numbered by hand before rules were declared, kept so that a saved network state (its
#: signature lists the projections' rule codes) still loads. Frozen: do not add to it.
_FIXED_CODES = {"stdp_pair": 1, "stdp_triplet": 2, "rstdp": 3, "stdp_bcm": 4}
#: code -> declared rule (what the generated dispatch calls).
RULES: dict[int, "LearningRule"] = {}


def rule_slots(*names: str) -> Any:
    """A rule's own slots of the `pp` row, by name, after the generic ones: ``pp[p, R.a_minus]`` in a
    hook (a namedtuple: Numba reads it as constants)."""
    if len(names) > N_PP - N_PC:
        raise ValueError(f"a rule has at most {N_PP - N_PC} slots of its own, got {len(names)}")
    slots(*names)  # distinct identifiers
    return namedtuple("RuleSlots", names)(*range(N_PC, N_PC + len(names)))


def rule_code(name: str) -> int:
    """A rule's code, the same in every process whatever else is registered: the fixed code of a built-in
    rule, else 16 + CRC-32 of its name."""
    return _FIXED_CODES.get(name, 16 + zlib.crc32(name.encode()))


def decay(tau_ms: float, dt_ms: float, what: str) -> float:
    """exp(-dt / tau): a trace's decay per step."""
    if not tau_ms > 0 or not math.isfinite(tau_ms):
        raise ValueError(f"{what} must be a positive number of ms, got {tau_ms!r}")
    return math.exp(-dt_ms / tau_ms)


def stdp_common(p: dict[str, Any], dt_ms: float, rule: str) -> dict[str, float]:
    """The generic slots of a trace rule: bounds, the fast traces' decays (tau_plus_ms, tau_minus_ms),
    ``bound`` ("hard" additive, "soft" multiplicative) and ``interaction`` ("all", "nearest")."""
    bound = p.get("bound", "hard")
    inter = p.get("interaction", "all")
    if bound not in ("hard", "soft"):
        raise ValueError(f"plasticity rule {rule!r}: bound must be 'hard' (additive) or 'soft' (multiplicative)")
    if inter not in ("all", "nearest"):
        raise ValueError(f"plasticity rule {rule!r}: interaction must be 'all' or 'nearest'")
    return {"w_min": p["w_min"], "w_max": p["w_max"], "dx1": decay(p["tau_plus_ms"], dt_ms, "tau_plus_ms"),
            "dy1": decay(p["tau_minus_ms"], dt_ms, "tau_minus_ms"), "soft": float(bound == "soft"),
            "nearest": float(inter == "nearest")}


def _take(params: dict[str, Any], defaults: dict[str, Any], rule: str, optional: tuple) -> dict[str, Any]:
    """Defaults overridden by `params`; unknown keys, missing required values (default None) and values
    that are not finite numbers (except where the default is a string) refused; 0 <= w_min < w_max."""
    unknown = set(params) - set(defaults) - {"rule"}
    if unknown:
        raise ValueError(f"plasticity rule {rule!r}: unknown parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(defaults)}")
    out = dict(defaults)
    out.update({k: v for k, v in params.items() if k != "rule"})
    for k, v in out.items():
        if isinstance(defaults[k], str) or (v is None and k in optional):
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


@dataclass(frozen=True)
class LearningRule:
    """A learning rule as a pipeline file names it (hooks and slots: the module docstring)."""

    name: str
    #: Parameters and defaults (None: required, unless in `optional`; a string: a choice the derive checks).
    #: Every rule has w_min and w_max.
    params: dict[str, Any]
    #: The rule's own `pp` slots (`rule_slots(...)`).
    slots: Any
    #: (checked parameters, dt_ms) -> {slot name: value}, own slots and generic ones (`PC`); raises
    #: ValueError for a bad value.
    derive: Callable[[dict, float], dict[str, float]]
    pre_amp: Callable
    post_amp: Callable
    rate_amp: Callable | None = None
    eligibility: bool = False
    #: Parameters that may stay None (the derive gives their value).
    optional: tuple[str, ...] = ()
    #: Named parameter sets (``preset = "..."``); the default one is ``params["preset"]``.
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: str = ""
    #: The rule's dispatch code (`rule_code`), assigned on declaration.
    code: int = field(init=False)

    def __post_init__(self) -> None:
        for h in ("pre_amp", "post_amp", "rate_amp"):
            f = getattr(self, h)
            if (f is not None or h != "rate_amp") and not hasattr(f, "py_func"):
                raise ValueError(f"rule {self.name}: {h} must be an @njit function, got {f!r}")
        if not {"w_min", "w_max"} <= set(self.params):
            raise ValueError(f"rule {self.name}: parameters w_min and w_max are required")
        if self.presets and self.params.get("preset") not in self.presets:
            raise ValueError(f"rule {self.name}: params['preset'] must name the default preset")
        code = rule_code(self.name)
        if code in RULES and RULES[code].name != self.name:
            raise ValueError(f"rule {self.name} has the same code as {RULES[code].name}; rename one")
        object.__setattr__(self, "code", code)
        RULES[code] = self

    def build(self, params: dict[str, Any], dt_ms: float) -> np.ndarray:
        """The projection's `pp` row."""
        params = {k: v for k, v in params.items() if k != "rule"}
        defaults = self.params
        if self.presets:
            preset = params.pop("preset", self.params["preset"])
            if preset not in self.presets:
                raise ValueError(f"{self.name}: unknown preset {preset!r}; known: {sorted(self.presets)}")
            params = {**self.presets[preset], **params}
            defaults = {**self.params, **self.presets[preset]}
        vals = self.derive(_take(params, defaults, self.name, self.optional), dt_ms)
        own = set(self.slots._fields)
        unknown = set(vals) - own - (set(PC._fields) - {"elig", "rate"})  # the flags come from the declaration
        missing = own - set(vals)
        if unknown or missing:
            raise ValueError(f"rule {self.name}: derive gave unknown slots {sorted(unknown)}, "
                             f"missing {sorted(missing)}")
        pp = np.zeros(N_PP)
        pp[PC.dx2] = pp[PC.dy2] = 1.0
        for k, v in vals.items():
            pp[getattr(self.slots, k) if k in own else getattr(PC, k)] = v
        pp[PC.elig] = float(self.eligibility)
        pp[PC.rate] = float(self.rate_amp is not None)
        return pp


def build_rule(spec: dict[str, Any], dt_ms: float) -> tuple[int, np.ndarray]:
    """A connection's ``plasticity = {kind = ..., ...}`` table (``rule`` is the older spelling) -> (rule code,
    pp row)."""
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


def register(rule: LearningRule) -> LearningRule:
    """Register a declared rule under its name."""
    return LEARNING_RULES.register(rule.name)(rule)
