"""ZeroMQ PUB sink: each control value as a protocol `Control` message (msgpack, see docs/protocol.md).

PUB sockets never block: with ``zmq.NOBLOCK`` a full send queue (``sndhwm`` messages per peer) drops the
message inside libzmq; an ``EAGAIN`` is counted as dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zmq

from spikestream.protocol import Control, Message, pack
from spikestream.registry import SINKS
from spikestream.sinks._base import Sink


@SINKS.register("zmq_pub")
class ZmqPubSink(Sink):
    def __init__(self, *, endpoint: str, bind: bool = True, stream: str = "control", sndhwm: int = 100,
                 context: zmq.Context | None = None):
        if not isinstance(endpoint, str) or "://" not in endpoint:
            raise ValueError(f"sink 'zmq_pub' needs endpoint like \"tcp://127.0.0.1:5600\", got {endpoint!r}")
        if sndhwm < 1:
            raise ValueError("sink 'zmq_pub': sndhwm must be >= 1")
        self.stream = stream
        self._sock = (context or zmq.Context.instance()).socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, int(sndhwm))
        self._sock.setsockopt(zmq.LINGER, 0)
        try:
            (self._sock.bind if bind else self._sock.connect)(endpoint)
        except zmq.ZMQError as e:
            self._sock.close()
            raise ValueError(f"sink 'zmq_pub': cannot {'bind' if bind else 'connect'} {endpoint}: {e}") from None
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT) if bind else endpoint
        self.seq = 0
        self.dropped = 0

    def publish(self, values, t_us, safe=False, names=None, origin_ns=0) -> None:
        msg = Message(Control(np.asarray(values, np.float64), list(names or []), bool(safe)), self.stream, self.seq,
                      int(t_us), int(origin_ns))
        self.seq += 1
        try:
            self._sock.send(pack(msg), zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1

    def stats(self) -> dict[str, Any]:
        return {"sent": self.seq - self.dropped, "dropped": self.dropped}

    def close(self) -> None:
        self._sock.close(linger=0)
