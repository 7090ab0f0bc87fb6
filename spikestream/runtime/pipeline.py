"""Pipeline files: one TOML file describes the nodes, their kinds, parameters and wiring.

docs/pipeline.md is the reference. In short::

    [pipeline]
    name = "emg-demo"
    stats = "tcp://127.0.0.1:auto"        # where nodes send their stats (the supervisor listens)

    [nodes.emg]
    kind = "emg_synth"
    outputs = { samples = "tcp://127.0.0.1:auto" }
    params = { channels = 8, rate_hz = 1000 }

    [nodes.enc]
    kind = "encoder"
    inputs = { in = "emg.samples" }        # another node's output port, or a literal endpoint
    outputs = { out = "ipc:///tmp/ss/enc" }

``auto`` picks a free TCP port when the pipeline is resolved (by `spikestream run`), and the resolved
pipeline (plain JSON) is what each node process is started with, so every process agrees on addresses.
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spikestream.params import Param, ParamError, Params, validate
from spikestream.registry import NODES
from spikestream.transport import check_endpoint, free_tcp_port, load_curve_keys

log = logging.getLogger("spikestream.pipeline")

FLOWS = ("realtime", "lossless")

#: The keys of a node table besides `kind`, `inputs`, `outputs` and `params`: the runtime's own, typed and
#: range-checked when the file is loaded (what the loop would otherwise trip over at run time: `cpus = 3`).
#: docs/reference.md and docs/pipeline.md's table say the same.
RUNTIME = Params(
    Param("control", str, None, doc="REP endpoint for commands (`spikestream cmd`, `top`)"),
    Param("host", str, None, doc="which machine runs it (`spikestream run --host`)",
          check=lambda v: _nonempty(v)),
    Param("tick_ms", float, 10.0, unit="ms", lo=0, lo_open=True, hi=60_000,
          doc="the longest the loop waits without calling the node's `poll`"),
    Param("hwm", int, 1000, unit="messages", lo=1, hi=10_000_000, doc="ZeroMQ high-water mark per socket"),
    Param("flow", str, "realtime", choices=FLOWS,
          doc="a full subscriber queue drops (realtime) or holds the sender back (lossless); default: [pipeline] flow"),
    Param("drain_s", float, 2.0, unit="s", lo=0, hi=600, doc="on a stop, keep handling queued input at most this long"),
    Param("linger_ms", int, 500, unit="ms", lo=0, hi=600_000, doc="bound on flushing at close"),
    Param("max_age_ms", float, None, unit="ms", lo=0, lo_open=True, finite=False,
          doc="drop inbound data older than this (counted as stale)"),
    Param("max_message_bytes", int, 16 * 1024 * 1024, unit="bytes", lo=64, hi=2**31 - 1, doc="larger frames are refused"),
    Param("start_wait_s", float, 30.0, unit="s", lo=0, hi=3600,
          doc="hold the start until every read output has a subscriber, at most this long"),
    Param("rt_priority", int, None, lo=1, hi=99, doc="SCHED_FIFO priority of the node's process"),
    Param("cpus", list, None, items=int, lo=0, min_items=1, expect="a non-empty list of CPU numbers (integers >= 0), "
          "e.g. [2]", doc="pin the node's process to these CPUs"),
    Param("state", str, None, check=lambda v: _nonempty(v), doc="`.npz` checkpoint: restored at start, saved on stop"),
    Param("checkpoint_s", float, None, unit="s", lo=0, lo_open=True, doc="periodic state save"),
    Param("state_keep", int, 3, lo=1, hi=100, doc="checkpoint generations kept"),
    Param("state_fallback", str, "fresh", choices=("fresh", "fail"), doc="no usable checkpoint: start fresh or exit 78"),
    Param("state_max_bytes", int, 256 << 20, unit="bytes", lo=1024, doc="a checkpoint declaring more is refused"),
    Param("stats_interval_s", float, 1.0, unit="s", lo=0, lo_open=True, hi=3600, doc="how often stats are published"),
    noun="key",
)
#: Every key a node table may hold.
NODE_KEYS = {"kind", "inputs", "outputs", "params", *RUNTIME.names()}
#: The keys of the `[pipeline]` table.
PIPELINE = Params(
    Param("name", str, None, doc="the pipeline's name (default: the file name)"),
    Param("stats", str, None, doc="where nodes send their stats; the supervisor binds it"),
    Param("curve_keys", str, None, doc="CURVE key folder (relative to the file): encrypt and authenticate every link"),
    Param("flow", str, None, choices=FLOWS, doc="every node's default flow"),
    noun="key",
)


def _nonempty(v: str) -> str:
    if not v:
        raise ValueError("must be a non-empty string, got ''")
    return v


class PipelineError(ValueError):
    """A pipeline file that cannot run; the text names the file, node and field."""


@dataclass
class NodeSpec:
    name: str
    kind: str
    inputs: dict[str, list[str]] = field(default_factory=dict)  # port -> endpoints (resolved)
    outputs: dict[str, str] = field(default_factory=dict)  # port -> endpoint
    params: dict[str, Any] = field(default_factory=dict)
    control: str | None = None  # REP endpoint for commands
    host: str | None = None  # which machine runs it (`spikestream run --host`)
    tick_ms: float = 10.0  # the longest the loop waits without polling the node
    hwm: int = 1000
    linger_ms: int = 500
    max_age_ms: float | None = None  # drop inbound data older than this (counted as stale)
    state: str | None = None  # .npz restored at start, saved on stop and every checkpoint_s
    checkpoint_s: float | None = None
    state_keep: int = 3  # checkpoint generations kept: state, state.1, ... (the newest valid one is loaded)
    state_fallback: str = "fresh"  # no usable checkpoint: "fresh" starts anew (one ERROR line), "fail" exits 78
    state_max_bytes: int = 256 << 20  # a checkpoint declaring more (uncompressed) is refused before inflating
    stats_interval_s: float = 1.0
    #: Hold the node's start (a source's first sample, a stage's subscriptions) until every wired output
    #: has a subscriber, at most this long; started downstream-first this way, no startup data is lost.
    start_wait_s: float = 30.0
    rt_priority: int | None = None  # SCHED_FIFO priority 1-99 for the node's process (needs CAP_SYS_NICE)
    cpus: list[int] | None = None  # pin the node's process to these CPUs
    curve_keys: str | None = None  # the pipeline's CURVE key folder (set from [pipeline] curve_keys)
    max_message_bytes: int = 16 * 1024 * 1024
    #: "realtime": a full subscriber queue drops (ZeroMQ's PUB behaviour; the receiver counts the gap).
    #: "lossless": the sender waits instead (XPUB_NODROP), so back-pressure slows the sources (replay).
    flow: str = "realtime"
    #: On a stop, keep taking in (and handling) what is queued until the inputs are idle, at most this long.
    drain_s: float = 2.0
    #: Output port -> the "NODE.PORT" inputs of this pipeline that read it (set at load). A port nobody in
    #: the pipeline reads is terminal: the start does not wait for it. None: unknown, wait on every port.
    consumers: dict[str, list[str]] | None = None


@dataclass
class Pipeline:
    name: str
    nodes: dict[str, NodeSpec]
    stats: str | None = None
    source: str = ""
    curve_keys: str | None = None  # encrypt and authenticate every link with these CURVE keys

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "stats": self.stats, "source": self.source, "curve_keys": self.curve_keys,
                           "nodes": {n: asdict(s) for n, s in self.nodes.items()}}, indent=1)


def load(path: str | Path, resolve_auto: bool = True) -> Pipeline:
    """Read a .toml pipeline file (or a resolved .json one), validate it, and resolve its wiring."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise PipelineError(f"{path}: cannot read: {e.strerror}") from None
    if path.suffix == ".json":  # a resolved copy `spikestream run` wrote from a checked file
        return from_json(text, str(path))
    try:
        doc = tomllib.loads(text.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PipelineError(f"{path}: not valid TOML: {e}") from None
    return from_dict(doc, str(path), resolve_auto)


def from_json(text: str | bytes, where: str) -> Pipeline:
    """A resolved pipeline (`Pipeline.to_json`: a checked file, auto ports picked) back, nothing checked again:
    what a node reads from the run's workdir, and what the supervisor takes from the fork server that checked
    the file (runtime/forkserver.py `load_pipeline`)."""
    try:
        d = json.loads(text)
        nodes = {n: NodeSpec(**s) for n, s in d["nodes"].items()}
        return Pipeline(d["name"], nodes, d.get("stats"), d.get("source", where), d.get("curve_keys"))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise PipelineError(f"{where}: not a resolved pipeline: {type(e).__name__}: {e}") from None


def from_dict(doc: dict, where: str = "<pipeline>", resolve_auto: bool = True) -> Pipeline:
    head = doc.get("pipeline", {})
    if not isinstance(head, dict):
        raise PipelineError(f"{where}: [pipeline] must be a table")
    try:
        validate(head, PIPELINE, f"{where}: [pipeline]")
    except ParamError as e:
        raise PipelineError(str(e)) from None
    unknown = sorted(set(doc) - {"pipeline", "nodes"})
    if unknown:
        raise PipelineError(f"{where}: unknown top-level table(s) {unknown}; a pipeline file has [pipeline] and [nodes.NAME]")
    name = head.get("name", Path(where).stem)
    raw_nodes = doc.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise PipelineError(f"{where}: no [nodes.NAME] tables")
    auto: dict[str, str] = {}

    def endpoint(ep: Any, what: str) -> str:
        if not isinstance(ep, str):
            raise PipelineError(f"{where}: {what}: endpoint must be a string")
        if resolve_auto and ep.startswith("tcp://") and ep.endswith(":auto"):
            host = ep[len("tcp://"):-len(":auto")]
            ep = auto.setdefault(f"{what}", f"tcp://{host}:{free_tcp_port(host)}")
        if not ep.endswith(":auto"):
            try:
                check_endpoint(ep)
            except ValueError as e:
                raise PipelineError(f"{where}: {what}: {e}") from None
        return ep

    specs: dict[str, NodeSpec] = {}
    for nname, nd in raw_nodes.items():
        w = f"node {nname!r}"
        if not isinstance(nd, dict):
            raise PipelineError(f"{where}: {w} must be a table")
        if "kind" not in nd:
            raise PipelineError(f"{where}: {w} has no kind")
        try:
            cls = NODES.get(nd["kind"])
        except KeyError as e:
            raise PipelineError(f"{where}: {w}: {e}") from None
        for key, what in (("inputs", "a table port -> NODE.PORT or endpoint(s)"), ("outputs", "a table port -> endpoint")):
            if key in nd and not isinstance(nd[key], dict):
                raise PipelineError(f"{where}: {w}: {key} must be {what}, got {nd[key]!r}")
        try:  # the runtime's keys (unknown keys named here, with a "did you mean"), then the kind's own
            table = {k: v for k, v in nd.items() if k not in ("kind", "inputs", "outputs", "params")}
            rt = validate(table, RUNTIME, f"{where}: {w}")
            decl = getattr(cls, "PARAMS", None)
            if "params" in nd and not isinstance(nd["params"], dict):
                raise PipelineError(f"{where}: {w}: params must be a table, got {nd['params']!r}")
            if decl is not None:
                validate(nd.get("params", {}), decl, f"{where}: {w} params")
        except ParamError as e:
            raise PipelineError(str(e)) from None
        outs = {p: endpoint(ep, f"{w} output {p!r}") for p, ep in nd.get("outputs", {}).items()}
        for p in outs:
            if p not in cls.outputs:
                raise PipelineError(f"{where}: {w}: kind {nd['kind']!r} has no output {p!r}; it has {sorted(cls.outputs)}")
        extra = {k: rt[k] for k in table if k != "control"}  # typed (tick_ms = 10 -> 10.0)
        if "flow" not in extra and "flow" in head:
            extra["flow"] = head["flow"]
        ctrl = endpoint(nd["control"], f"{w} control") if "control" in nd else None
        specs[nname] = NodeSpec(nname, nd["kind"], {}, outs, dict(nd.get("params", {})), ctrl, **extra)

    for nname, nd in raw_nodes.items():
        w = f"node {nname!r}"
        cls = NODES.get(nd["kind"])
        for port, refs in nd.get("inputs", {}).items():
            if port not in cls.inputs:
                raise PipelineError(f"{where}: {w}: kind {nd['kind']!r} has no input {port!r}; it has {sorted(cls.inputs)}")
            eps = []
            for ref in [refs] if isinstance(refs, str) else list(refs):
                if isinstance(ref, str) and "://" not in ref:
                    src, _, sport = ref.partition(".")
                    if src not in specs or sport not in specs[src].outputs:
                        raise PipelineError(f"{where}: {w} input {port!r}: no output {ref!r} in this pipeline")
                    sent = NODES.get(specs[src].kind).outputs[sport]
                    if sent not in cls.inputs[port]:
                        raise PipelineError(f"{where}: {w} input {port!r} takes {cls.inputs[port]}, but {ref} sends {sent!r}")
                    eps.append(specs[src].outputs[sport])
                else:
                    eps.append(endpoint(ref, f"{w} input {port!r}"))
            specs[nname].inputs[port] = eps
        for port in set(cls.inputs) - set(specs[nname].inputs) - cls.optional:
            raise PipelineError(f"{where}: {w}: input {port!r} is not wired")
        for port in set(cls.outputs) - set(specs[nname].outputs) - cls.optional:
            raise PipelineError(f"{where}: {w}: output {port!r} has no endpoint")

    readers: dict[str, list[str]] = {}
    for s in specs.values():
        for port, eps in s.inputs.items():
            for e in eps:
                readers.setdefault(e, []).append(f"{s.name}.{port}")
    for s in specs.values():
        s.consumers = {p: readers.get(e, []) for p, e in s.outputs.items()}

    bound = [ep for s in specs.values() for ep in [*s.outputs.values(), *([s.control] if s.control else [])]]
    dup = {ep for ep in bound if bound.count(ep) > 1 and not ep.endswith(":auto")}  # unresolved: each its own port
    if dup:
        raise PipelineError(f"{where}: endpoint(s) bound twice: {sorted(dup)}")
    stats = endpoint(head["stats"], "pipeline stats") if "stats" in head else None
    keys = head.get("curve_keys")
    if keys is not None:
        keys = str((Path(where).parent / keys).resolve())
        try:
            load_curve_keys(keys)
        except ValueError as e:
            raise PipelineError(f"{where}: pipeline curve_keys: {e}") from None
        for s in specs.values():
            s.curve_keys = keys
    for s in specs.values():
        fast = s.params.get("pace") == "fast" or s.params.get("speed") in (0, "fast")  # sources/pacing.py
        if fast and s.flow == "realtime" and any(s.consumers.values()):
            log.warning("%s: node %r replays as fast as it can (pace = \"fast\") with flow = \"realtime\": "
                        "whatever its consumers cannot take at once is dropped (counted by them as dropped); "
                        "set flow = \"lossless\" (under [pipeline] or the node) to slow it to their pace instead",
                        where, s.name)
    return Pipeline(name, specs, stats, where, keys)
