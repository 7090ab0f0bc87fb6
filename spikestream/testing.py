"""Run one node the way the runtime would, without sockets or processes: for tests, notebooks and new node
kinds. `NodeHarness` builds the node, feeds it messages (through the wire format by default, so what it sees is
what the runtime would hand it), ticks it, and keeps everything it emits.

    h = NodeHarness("encoder", {"encoder": "delta", "threshold": 0.1})
    h.send("in", Samples(t_us, data, 1000.0))
    spikes = h.bodies("out")

`h.emitted[port]` is the live list of the bodies emitted on a port (a test may keep it and look again after
more messages); `connect` chains harnesses into a small in-process pipeline; `run` polls a finite source until
it is done. Tests use it instead of hand-writing an ``emit=lambda ...``. Beside it: `wait_for` (a bounded
wait on a condition) and `encode_in_chunks` (an encoder fed in random chunks).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable, NamedTuple

import numpy as np

from spikestream import protocol as P
from spikestream.registry import NODES
from spikestream.runtime.node import Node


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "the condition", every: float = 0.005) -> Any:
    """Call `cond` every `every` s until it returns something true, and return that; after `timeout` s fail
    with an AssertionError naming `what` (a test waits on a condition with a bound, never sleeps and hopes)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def encode_in_chunks(encoder, data, t_us, rng, max_chunk: int):
    """Feed a stage with an ``encode(data, t_us) -> (idx, t_us)`` method (an encoder) the rows of `data` in
    chunks of random lengths 1 .. max_chunk - 1 drawn from `rng` (block boundaries fall anywhere); returns
    the spikes of every chunk, concatenated. A chunk-invariant stage gives what one call gives."""
    parts, k = [], 0
    while k < len(t_us):
        step = int(rng.integers(1, max_chunk))
        parts.append(encoder.encode(data[k:k + step], t_us[k:k + step]))
        k += step
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class Emitted(NamedTuple):
    port: str
    body: P.Body
    t_us: int
    origin_ns: int


class NodeHarness:
    """`node` is a node kind (``"snn"``) or a `Node` subclass; `setup` runs at once unless told not to."""

    def __init__(self, node: str | type[Node], params: dict[str, Any], name: str = "node", setup: bool = True):
        cls = NODES.get(node) if isinstance(node, str) else node
        self.name = name
        #: Everything emitted, in order, on every port.
        self.out: list[Emitted] = []
        #: port -> the bodies emitted on it, in order (live: it grows as the node emits).
        self.emitted: defaultdict[str, list[P.Body]] = defaultdict(list)
        self._links: defaultdict[str, list[Callable[[Emitted], None]]] = defaultdict(list)
        self.node = cls(name, params, emit=self._collect)
        self._seq: dict[tuple[str, str], int] = defaultdict(int)
        if setup:
            self.node.setup()

    def _collect(self, port: str, body: P.Body, t_us: int, origin_ns: int) -> None:
        e = Emitted(port, body, t_us, origin_ns)
        self.out.append(e)
        self.emitted[port].append(body)
        for deliver in self._links.get(port, ()):
            deliver(e)

    def setup(self) -> NodeHarness:
        """Build the node's stages (for a harness made with ``setup=False``); returns the harness."""
        self.node.setup()
        return self

    def connect(self, port: str, to: NodeHarness, in_port: str = "in", *, wire: bool = True) -> NodeHarness:
        """From now on, every body this node emits on `port` is sent at once into `to`'s input `in_port`, as
        the stream ``"<name>.<port>"`` with the emitted `t_us` and `origin_ns` (a link of a pipeline file, in
        one process). Returns `to`, so ``a.connect("out", b).connect("out", c)`` reads as the pipeline."""
        stream = f"{self.name}.{port}"
        self._links[port].append(lambda e: to.send(in_port, e.body, stream=stream, t_us=e.t_us,
                                                   origin_ns=e.origin_ns, wire=wire))
        return to

    def send(self, port: str, body: P.Body, *, stream: str = "test", t_us: int | None = None, origin_ns: int = 0,
             wire: bool = True) -> None:
        """One message into input `port`, with the next seq of its stream. `t_us` defaults to the body's end
        time; `origin_ns` 0 (no origin stamp) keeps an output node from judging replayed data stale. With `wire`
        it goes through pack/unpack and the port's accepted kinds, as on a socket."""
        if t_us is None:
            t_us = int(getattr(body, "t1_us", 0) or (body.t_us[-1] if getattr(body, "t_us", None) is not None
                                                      and len(body.t_us) else 0))
        seq = self._seq[(port, stream)]
        self._seq[(port, stream)] = seq + 1
        msg = P.Message(body, stream, seq, int(t_us), origin_ns)
        if wire:
            msg = P.unpack(P.pack(msg), kinds=type(self.node).inputs[port])
        self.node.on_message(port, msg)

    def poll(self, now_ns: int | None = None) -> None:
        self.node.poll(time.time_ns() if now_ns is None else now_ns)

    def run(self, max_polls: int = 100_000, t0_ns: int | None = None, step_ns: int = 1) -> int:
        """Poll a finite source (a file replay, ``pace = "fast"``) until it is finished or `max_polls` polls
        have run; returns the number of polls. Poll k is at ``t0_ns + k * step_ns`` if `t0_ns` is given (a paced
        source on a clock of its own), else at the wall clock."""
        polls = 0
        while not self.node.finished and polls < max_polls:
            self.poll(None if t0_ns is None else t0_ns + polls * step_ns)
            polls += 1
        return polls

    def command(self, cmd: str, **args) -> Any:
        return self.node.on_command(cmd, args)

    def bodies(self, port: str) -> list[P.Body]:
        """Every body emitted on `port` so far, in order (a copy; `emitted[port]` is the live list)."""
        return list(self.emitted.get(port, ()))
