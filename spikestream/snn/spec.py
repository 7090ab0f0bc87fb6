"""The network description (the SNN node's params, straight from the pipeline file) -> frozen specs.

Everything is validated here, once, with ValueError texts that name the layer or connection at fault.
The schema is documented in docs/snn.md. The numbers the kernels read are made here too, once: each layer's
`pm` row (its model's `pack` at the network's step and sub-step) and each plastic connection's rule code and
`pp` row (`build_rule`); `spikestream.snn.build` copies them into the network's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spikestream.params import check_number
from spikestream.registry import NEURON_MODELS, UnknownKind
from spikestream.snn.learning import R_NONE, build_rule
from spikestream.snn.neuron import COMMON_PARAMS, NeuronModel, substeps

INPUT = "input"
_LAYER_KEYS = {"name", "n", "shape", "model", "type", "preset", "init"}
_CONN_KEYS = {"name", "pre", "post", "rule", "weight", "synapse", "receptor", "delay_ms", "plasticity",
              "normalize", "storage"}
_TOP_KEYS = {"dt_us", "seed", "layers", "connections", "outputs"}
SYNAPSES = ("exp_current", "conductance")


@dataclass(frozen=True)
class LayerSpec:
    name: str
    n: int
    shape: tuple[int, int] | None
    model: NeuronModel
    type: str                      # "excitatory" | "inhibitory"
    params: dict[str, float]       # model parameters, defaults filled in
    common: dict[str, float]       # COMMON_PARAMS, defaults filled in
    init: dict[str, Any]           # initial value of each state variable, or (low, high) uniform
    pm: np.ndarray                 # the model's packed parameter row (read-only)


@dataclass(frozen=True)
class ConnSpec:
    name: str
    pre: str
    post: str
    rule: str
    rule_params: dict[str, Any]
    weight: Any
    synapse: str
    receptor: str                  # "exc" | "inh"
    delay_ms: Any
    plasticity: dict[str, Any] | None
    normalize: dict[str, float] | None
    storage: str = "auto"          # "auto" | "sparse" | "dense"
    plasticity_code: int = R_NONE  # the plasticity rule's code (R_NONE: not plastic)
    plasticity_pp: np.ndarray | None = None  # its packed parameter row (read-only)


@dataclass(frozen=True)
class NetSpec:
    dt_us: int
    seed: int
    n_inputs: int
    layers: tuple[LayerSpec, ...]
    connections: tuple[ConnSpec, ...]
    outputs: tuple[str, ...]

    @property
    def dt_ms(self) -> float:
        return self.dt_us / 1000.0


def _int(v: Any, what: str, lo: int = 0) -> int:
    return check_number(v, what, integer=True, lo=lo)


def _finite(v: Any, what: str) -> float:
    return check_number(v, what)


def _layer(d: Any, i: int, dt_ms: float) -> LayerSpec:
    if not isinstance(d, dict):
        raise ValueError(f"layers[{i}] must be a table")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"layers[{i}] needs a name")
    what = f"layer {name!r}"
    if name == INPUT:
        raise ValueError(f"{what}: the name 'input' is reserved for the encoder's spikes")
    try:
        model = NEURON_MODELS.get(d.get("model", "lif"))
    except UnknownKind as e:
        raise ValueError(f"{what}: {e}") from None
    shape = d.get("shape")
    if shape is not None:
        if not (isinstance(shape, (list, tuple)) and len(shape) == 2):
            raise ValueError(f"{what}: shape must be [rows, cols]")
        shape = (_int(shape[0], f"{what} shape", 1), _int(shape[1], f"{what} shape", 1))
    n = d.get("n", shape[0] * shape[1] if shape else None)
    n = _int(n, f"{what}: n", 1)
    if shape and shape[0] * shape[1] != n:
        raise ValueError(f"{what}: shape {list(shape)} does not hold n = {n} neurons")
    typ = d.get("type", "excitatory")
    if typ not in ("excitatory", "inhibitory"):
        raise ValueError(f"{what}: type must be 'excitatory' or 'inhibitory'")
    params = dict(model.params)
    preset = d.get("preset")
    if preset is not None:
        if preset not in model.presets:
            raise ValueError(f"{what}: model {model.name!r} has no preset {preset!r}; "
                             f"known: {sorted(model.presets) or 'none'}")
        params.update(model.presets[preset])
    common = {k: v for k, v in COMMON_PARAMS.items()}
    common.update(e_exc=model.e_exc, e_inh=model.e_inh, t_ref_ms=model.t_ref_ms, substep_ms=model.substep_ms)
    for k, v in d.items():
        if k in _LAYER_KEYS:
            continue
        if k in params:
            params[k] = _finite(v, f"{what}: {k}")
        elif k in common:
            common[k] = _finite(v, f"{what}: {k}")
        else:
            raise ValueError(f"{what}: unknown parameter {k!r} for model {model.name!r}; known: "
                             f"{sorted(set(params) | set(common) | _LAYER_KEYS)}")
    for k in ("tau_exc_ms", "tau_inh_ms"):
        if common[k] <= 0:
            raise ValueError(f"{what}: {k} must be > 0")
    for k in ("t_ref_ms", "noise", "substep_ms", "theta_plus", "tau_theta_ms"):
        if common[k] < 0:
            raise ValueError(f"{what}: {k} must be >= 0")
    wta = common["wta_k"]
    if wta != int(wta) or wta < 0:
        raise ValueError(f"{what}: wta_k must be a non-negative integer")
    try:  # packed here, once: the model's own checks of its values fail at load
        pm = model.pack(params, dt_ms, substeps(dt_ms, common["substep_ms"])[1])
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    pm.setflags(write=False)
    init = dict(model.init(params))
    user_init = d.get("init", {})
    if not isinstance(user_init, dict):
        raise ValueError(f"{what}: init must be a table of variable -> value")
    for k, v in user_init.items():
        if k not in model.variables:
            raise ValueError(f"{what}: init of unknown variable {k!r}; model {model.name!r} has "
                             f"{list(model.variables)}")
        if isinstance(v, dict):  # uniform per neuron, seeded
            if set(v) != {"low", "high"}:
                raise ValueError(f"{what}: init.{k} must be a number or {{low, high}}")
            lo, hi = _finite(v["low"], f"{what}: init.{k}.low"), _finite(v["high"], f"{what}: init.{k}.high")
            if hi < lo:
                raise ValueError(f"{what}: init.{k} needs low <= high")
            init[k] = (lo, hi)
        else:
            init[k] = _finite(v, f"{what}: init.{k}")
    return LayerSpec(name, n, shape, model, typ, params, common, init, pm)


def _conn(d: Any, i: int, sizes: dict[str, int], types: dict[str, str], dt_ms: float) -> ConnSpec:
    if not isinstance(d, dict):
        raise ValueError(f"connections[{i}] must be a table")
    pre, post = d.get("pre"), d.get("post")
    name = d.get("name", f"{pre}->{post}")
    what = f"connection {name!r}"
    if pre not in sizes:
        raise ValueError(f"{what}: pre {pre!r} is not 'input' or a layer; layers: {sorted(sizes)}")
    if post not in sizes or post == INPUT:
        raise ValueError(f"{what}: post {post!r} is not a layer; layers: {sorted(set(sizes) - {INPUT})}")
    syn = d.get("synapse", "exp_current")
    if syn not in SYNAPSES:
        raise ValueError(f"{what}: synapse must be one of {list(SYNAPSES)}, got {syn!r}")
    receptor = d.get("receptor", "inh" if types.get(pre) == "inhibitory" else "exc")
    if receptor not in ("exc", "inh"):
        raise ValueError(f"{what}: receptor must be 'exc' or 'inh'")
    plast = d.get("plasticity")
    code, pp = R_NONE, None
    if plast is not None:
        if not isinstance(plast, dict):
            raise ValueError(f"{what}: plasticity must be a table")
        try:  # built here, once: the rule's own checks fail at load
            code, pp = build_rule(plast, dt_ms)
        except ValueError as e:
            raise ValueError(f"{what}: plasticity: {e}") from None
        pp.setflags(write=False)
    norm = d.get("normalize")
    if norm is not None:
        if not isinstance(norm, dict) or set(norm) - {"target", "every_ms"} or "target" not in norm:
            raise ValueError(f"{what}: normalize must be {{target = ..., every_ms = ...}}")
        norm = {"target": _finite(norm["target"], f"{what}: normalize.target"),
                "every_ms": _finite(norm.get("every_ms", 1.0), f"{what}: normalize.every_ms")}
        if norm["target"] <= 0 or norm["every_ms"] <= 0:
            raise ValueError(f"{what}: normalize target and every_ms must be > 0")
    storage = d.get("storage", "auto")
    if storage not in ("auto", "sparse", "dense"):
        raise ValueError(f"{what}: storage must be 'auto', 'sparse' or 'dense'")
    rule_params = {k: v for k, v in d.items() if k not in _CONN_KEYS}
    return ConnSpec(name, pre, post, d.get("rule", "all_to_all"), rule_params, d.get("weight", 1.0), syn,
                    receptor, d.get("delay_ms", 0.0), plast, norm, storage, code, pp)


def plasticity_rule_names(desc: dict) -> dict:
    """The network description with `kind` accepted as a plasticity table's selector (alias of `rule`): each
    such table gets ``rule = kind`` (a copy; naming two different rules is a ValueError)."""
    conns = desc.get("connections")
    if not isinstance(conns, list):
        return desc
    out = []
    for c in conns:
        pl = c.get("plasticity") if isinstance(c, dict) else None
        if isinstance(pl, dict) and "kind" in pl:
            pl = dict(pl)
            kind = pl.pop("kind")
            if pl.setdefault("rule", kind) != kind:
                raise ValueError(f"plasticity: 'kind' ({kind!r}) and 'rule' ({pl['rule']!r}) name two rules")
            c = {**c, "plasticity": pl}
        out.append(c)
    return {**desc, "connections": out}


def parse(params: dict[str, Any], n_inputs: int) -> NetSpec:
    if not isinstance(params, dict):
        raise ValueError("SNN params must be a table")
    unknown = set(params) - _TOP_KEYS
    if unknown:
        raise ValueError(f"SNN params: unknown key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    n_inputs = _int(n_inputs, "n_inputs", 0)
    dt_us = _int(params.get("dt_us", 1000), "dt_us", 1)
    seed = _int(params.get("seed", 0), "seed", 0)
    raw_layers = params.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ValueError("SNN params: 'layers' must be a non-empty list of tables ([[layers]])")
    layers = tuple(_layer(d, i, dt_us / 1000.0) for i, d in enumerate(raw_layers))
    sizes = {INPUT: n_inputs}
    types = {INPUT: "excitatory"}
    for L in layers:
        if L.name in sizes:
            raise ValueError(f"layer name {L.name!r} is used twice")
        sizes[L.name] = L.n
        types[L.name] = L.type
    raw_conns = params.get("connections", [])
    if not isinstance(raw_conns, list):
        raise ValueError("SNN params: 'connections' must be a list of tables ([[connections]])")
    conns = tuple(_conn(d, i, sizes, types, dt_us / 1000.0) for i, d in enumerate(raw_conns))
    names = [c.name for c in conns]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"connection name(s) {sorted(dup)} used twice; give them distinct 'name's")
    outputs = params.get("outputs", [layers[-1].name])
    if isinstance(outputs, str):
        outputs = [outputs]
    if not isinstance(outputs, list) or not outputs:
        raise ValueError("SNN params: outputs must be a list of layer names")
    for i, o in enumerate(outputs):
        if o not in sizes or (o == INPUT and i > 0):  # "input" first: the readout's skip path
            raise ValueError(f"SNN params: output {o!r} is not a layer" if o != INPUT else
                             "SNN params: 'input' (the input spikes passed through) must be the first output")
    if len(set(outputs)) != len(outputs):
        raise ValueError("SNN params: an output layer is listed twice")
    return NetSpec(dt_us, seed, n_inputs, layers, conns, tuple(outputs))
