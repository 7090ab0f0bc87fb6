"""The SNN node's parameters: its own limits and learning schedule, beside the network it runs (a description
of layers and connections, or a named template), all checked at load without building anything."""

from __future__ import annotations

from typing import Any

from spikestream.params import Param, Params
from spikestream.snn.schedule import learning_schedule
from spikestream.snn.spec import parse, plasticity_rule_names
from spikestream.snn.topologies import expand

#: The keys of the network description (spikestream.snn.spec checks them again when it builds).
NETWORK = ("dt_us", "seed", "layers", "connections", "outputs")


def template(topo: Any, tparams: dict) -> tuple[str | None, dict]:
    """The ``topology`` value as (template name or None, its parameters): a name with `tparams`, or one
    selector table ``{kind = "reservoir", n_exc = ...}`` (a copy, without its kind)."""
    if isinstance(topo, dict):
        tparams = dict(topo)
        topo = tparams.pop("kind", None)
        if not isinstance(topo, str):
            raise ValueError("parameter 'topology' as a table needs kind = the template's name")
    return topo, tparams


def network_description(table: dict) -> dict:
    """The network description's keys of a node table (a plasticity table's `kind` read as its `rule`)."""
    return plasticity_rule_names({k: v for k, v in table.items() if k in NETWORK})


def _learning_check(v):
    learning_schedule(v)
    return v


def _network_check(values: dict, table: dict) -> None:
    """The network as a whole, checked without building it (at load too): the description's layers,
    connections and rules, or the template's parameters."""
    topo = values["topology"]
    if topo is None:
        parse(network_description(table), values["n_inputs"] or 1)
        return
    rest = sorted(k for k in NETWORK if k in table)
    if rest:
        raise ValueError(f"with 'topology' give its parameters in 'topology_params' (or the topology table), "
                         f"not {rest}")
    if isinstance(topo, dict) and values["topology_params"]:
        raise ValueError("give the topology's parameters in its table or in 'topology_params', not both")
    name, tparams = template(topo, values["topology_params"])
    if name != "conv":  # conv's parameters are checked when it is built
        expand(name, tparams)


PARAMS = Params(
    Param("topology", (str, dict), None, doc="a named template (reservoir, synfire, feedforward, conv) instead of "
          "layers/connections: a name with `topology_params`, or one table {kind = ..., ...its parameters}"),
    Param("topology_params", dict, {}, doc="the template's parameters (docs/snn-validation.md)"),
    Param("n_inputs", int, None, lo=1, doc="fixes the input size (default: a restored state or the first packet)"),
    Param("max_inputs", int, 65_536, lo=1, doc="the largest input size accepted"),
    Param("max_gap_ms", float, 10_000, unit="ms", lo=0, lo_open=True, doc="a longer gap is jumped, not simulated"),
    Param("resize_after", int, 20, unit="packets", lo=1, doc="consecutive packets of another size that rebuild"),
    Param("max_bias", float, 1000.0, lo=0, lo_open=True, doc="largest |i_bias| (file, state or command)"),
    Param("align", dict, None, doc="ring alignment of the input, e.g. {ring = 8, per_channel = 2}"),
    Param("learning", (bool, dict), True, check=_learning_check,
          doc="true, false, or a schedule {from_s = .., until_s = ..} in stream time"),
    rest="the network description: dt_us, seed, layers, connections, outputs (docs/snn.md)",
    rest_keys=lambda v: NETWORK, check=_network_check,
)
