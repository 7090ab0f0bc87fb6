"""Named network templates a pipeline file can select: ``topology = "reservoir"`` plus a few numbers expand
into the full SNN table (``layers`` + ``connections``) that `spikestream.snn.build_snn` takes.

    from spikestream.snn.topologies import TOPOLOGIES, expand
    table = expand("synfire", {"n_groups": 10, "group_size": 100})   # -> dict for build_snn
    TOPOLOGIES.names()  # ['feedforward', 'reservoir', 'synfire']

Each template is a function ``(**params) -> dict`` registered in `TOPOLOGIES`; unknown parameters are
errors. The convolutional layer has its own stage (`spikestream.snn.conv.ConvLayer`, template "conv" via
`build_topology`), since shared weights are not a list of synapses.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from spikestream.params import check_number
from spikestream.registry import Registry

TOPOLOGIES = Registry("snn topology")


def _lif(**kw) -> dict[str, Any]:
    return {"model": "lif", "tau_m_ms": 20.0, "e_l": -60.0, "v_th": -50.0, "v_reset": -60.0, "t_ref_ms": 2.0,
            "tau_exc_ms": 5.0, "tau_inh_ms": 10.0, **kw}


def _copy(v):
    """A fresh copy of a table default, so that editing one expanded table cannot change the next."""
    return dict(v) if isinstance(v, dict) else v


def _pos(name: str, v, integer=False, zero_ok=False) -> None:
    check_number(v, f"topology: {name}", integer=integer, lo=0, lo_open=not zero_ok, whole_float=True)


@TOPOLOGIES.register("reservoir")
def reservoir(n_exc: int = 400, n_inh: int = 100, p_rec: float = 0.1, w_ee: float = 1.0, w_ei: float = 2.0,
              w_ie: float = 4.0, w_ii: float = 4.0, p_in: float = 0.2, w_in: float = 4.0,
              delay_ms: float | dict = {"low": 1.0, "high": 3.0}, noise: float = 0.0, dt_us: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """Liquid state machine (Maass, Natschläger & Markram 2002): a fixed random recurrent E/I network of LIF
    neurons with current synapses (mV); inputs reach the excitatory pool with probability `p_in`. No
    plasticity: only a readout (`spikestream.snn.reservoir.LinearReadout`, or a decoder node) is trained."""
    for k, v in (("n_exc", n_exc), ("n_inh", n_inh)):
        _pos(k, v, integer=True)
    for k, v in (("p_rec", p_rec), ("p_in", p_in)):
        if not (isinstance(v, (int, float)) and 0 <= v <= 1):
            raise ValueError(f"topology reservoir: {k} must be in [0, 1], got {v!r}")
    for k, v in (("w_ee", w_ee), ("w_ei", w_ei), ("w_ie", w_ie), ("w_ii", w_ii), ("w_in", w_in)):
        _pos(k, v, zero_ok=True)
    layers = [{"name": "E", "n": int(n_exc), **_lif(noise=noise)},
              {"name": "I", "n": int(n_inh), "type": "inhibitory", **_lif(noise=noise)}]
    conns = [{"name": "in", "pre": "input", "post": "E", "rule": "fixed_prob", "p": p_in,
              "weight": {"init": "uniform", "low": 0.0, "high": 2 * w_in}}]
    for pre, post, w in (("E", "E", w_ee), ("E", "I", w_ei), ("I", "E", w_ie), ("I", "I", w_ii)):
        conns.append({"name": f"{pre}{post}", "pre": pre, "post": post, "rule": "fixed_prob", "p": p_rec,
                      "weight": {"init": "uniform", "low": 0.0, "high": 2 * w}, "delay_ms": _copy(delay_ms)})
    return {"dt_us": dt_us, "seed": seed, "layers": layers, "connections": conns, "outputs": ["E", "I"]}


@TOPOLOGIES.register("synfire")
def synfire(n_groups: int = 10, group_size: int = 100, p: float = 0.5, weight: float = 4.0,
            delay_ms: float = 2.0, w_in: float = 150.0, noise: float = 0.5, dt_us: int = 100,
            seed: int = 0) -> dict[str, Any]:
    """Synfire chain (Abeles 1991; Diesmann, Gewaltig & Aertsen 1999): `n_groups` pools of LIF neurons, each
    pool feeding the next with probability `p` (current synapses, `weight` mV, `delay_ms`). Input i drives
    neuron i of the first pool (one-to-one, `w_in` mV), so a volley on the inputs starts the chain.
    Outputs: all pools in order (output index = group * group_size + neuron)."""
    _pos("n_groups", n_groups, integer=True)
    _pos("group_size", group_size, integer=True)
    _pos("weight", weight, zero_ok=True)
    _pos("delay_ms", delay_ms, zero_ok=True)
    if not (isinstance(p, (int, float)) and 0 < p <= 1):
        raise ValueError(f"topology synfire: p must be in (0, 1], got {p!r}")
    names = [f"g{k}" for k in range(int(n_groups))]
    layers = [{"name": n, "n": int(group_size), **_lif(noise=noise, tau_exc_ms=2.0)} for n in names]
    conns = [{"name": "in", "pre": "input", "post": names[0], "rule": "one_to_one", "weight": w_in}]
    for a, b in zip(names[:-1], names[1:]):
        c = {"name": f"{a}{b}", "pre": a, "post": b, "weight": weight, "delay_ms": delay_ms}
        c.update({"rule": "all_to_all"} if p == 1 else {"rule": "fixed_prob", "p": p})
        conns.append(c)
    return {"dt_us": dt_us, "seed": seed, "layers": layers, "connections": conns, "outputs": names}


@TOPOLOGIES.register("feedforward")
def feedforward(sizes: list = (100,), weight: float | dict = {"init": "uniform", "low": 0.0, "high": 1.0},
                plasticity: dict | None = None, wta_k: int = 0, dt_us: int = 1000,
                seed: int = 0) -> dict[str, Any]:
    """Feedforward stack of LIF layers ``h0, h1, ...`` of the given sizes, all-to-all from the previous one,
    optionally plastic and with k-winners-take-all per layer."""
    if not isinstance(sizes, (list, tuple)) or not sizes:
        raise ValueError("topology feedforward: sizes must be a non-empty list of layer sizes")
    for s in sizes:
        _pos("sizes[i]", s, integer=True)
    names = [f"h{k}" for k in range(len(sizes))]
    layers = [{"name": n, "n": int(s), **_lif(wta_k=wta_k)} for n, s in zip(names, sizes)]
    conns = []
    for a, b in zip(["input"] + names[:-1], names):
        c = {"name": f"{a}->{b}", "pre": a, "post": b, "weight": _copy(weight)}
        if plasticity:
            c["plasticity"] = dict(plasticity)
        conns.append(c)
    return {"dt_us": dt_us, "seed": seed, "layers": layers, "connections": conns, "outputs": [names[-1]]}


def expand(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SNN table of template `name` with `params` (unknown keys are a ValueError naming the known ones)."""
    fn: Callable[..., dict] = TOPOLOGIES.get(name)
    params = dict(params or {})
    known = set(inspect.signature(fn).parameters)
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"topology {name!r}: unknown parameter(s) {sorted(unknown)}; known: {sorted(known)}")
    return fn(**params)


def build_topology(name: str, params: dict[str, Any] | None, n_inputs: int):
    """A ready SNN stage (``advance(in_idx, in_t_us, until_us)``) for template `name`: ``"conv"`` builds a
    `ConvLayer` (params: `ConvParams` fields; its input size is fixed by in_channels*height*width), the
    others `build_snn(expand(name, params), n_inputs)`."""
    if name == "conv":
        from spikestream.snn.conv import ConvLayer, ConvParams
        try:
            cp = ConvParams(**dict(params or {}))
        except TypeError as e:
            raise ValueError(f"topology 'conv': {e}") from None
        layer = ConvLayer(cp)
        if n_inputs != layer.n_inputs:
            raise ValueError(f"topology 'conv': in_channels*height*width = {layer.n_inputs}, "
                             f"but the input has {n_inputs} neurons")
        return layer
    from spikestream.snn.network import build_snn
    return build_snn(expand(name, params), n_inputs)
