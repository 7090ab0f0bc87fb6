"""Run one node the way the runtime would, without sockets or processes: for tests, notebooks and new node
kinds. `NodeHarness` builds the node, feeds it messages (through the wire format by default, so what it sees is
what the runtime would hand it), ticks it, and keeps everything it emits.

    h = NodeHarness("encoder", {"encoder": "delta", "threshold": 0.1})
    h.send("in", Samples(t_us, data, 1000.0))
    spikes = h.bodies("out")
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, NamedTuple

from spikestream import protocol as P
from spikestream.registry import NODES
from spikestream.runtime.node import Node


class Emitted(NamedTuple):
    port: str
    body: P.Body
    t_us: int
    origin_ns: int


class NodeHarness:
    """`node` is a node kind (``"snn"``) or a `Node` subclass; `setup` runs at once unless told not to."""

    def __init__(self, node: str | type[Node], params: dict[str, Any], name: str = "node", setup: bool = True):
        cls = NODES.get(node) if isinstance(node, str) else node
        self.out: list[Emitted] = []
        self.node = cls(name, params, emit=lambda port, body, t_us, origin_ns:
                        self.out.append(Emitted(port, body, t_us, origin_ns)))
        self._seq: dict[tuple[str, str], int] = defaultdict(int)
        if setup:
            self.node.setup()

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

    def command(self, cmd: str, **args) -> Any:
        return self.node.on_command(cmd, args)

    def bodies(self, port: str) -> list[P.Body]:
        """Every body emitted on `port`, in order."""
        return [e.body for e in self.out if e.port == port]
