"""ZeroMQ PUB sink: each control value as a protocol `Control` message (msgpack, see docs/protocol.md).

PUB sockets never block: with ``zmq.NOBLOCK`` a full send queue (``sndhwm`` messages per peer) drops the
message inside libzmq; an ``EAGAIN`` is counted as dropped.

CURVE: with ``curve_keys`` (a key folder from `spikestream keys`; the `control_output` node passes the
pipeline's own when the pipeline has them) the socket is a CURVE server with the pipeline's server key and
admits only the client keys in ``<keys>/authorized`` (its own ZAP authenticator): plaintext or unknown
subscribers get nothing. `spikestream.actuator.ActuatorClient(curve=<keys>)` joins it.

`close` lingers up to ``linger_ms`` so that the last message (the node's safe value on stop) is delivered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zmq

from spikestream.protocol import Control, Message, pack
from spikestream.registry import SINKS
from spikestream.sinks._base import Sink
from spikestream.transport import load_curve_keys, start_authenticator


@SINKS.register("zmq_pub")
class ZmqPubSink(Sink):
    def __init__(self, *, endpoint: str, bind: bool = True, stream: str = "control", sndhwm: int = 100,
                 curve_keys: str = "", linger_ms: int = 500, context: zmq.Context | None = None):
        if not isinstance(endpoint, str) or "://" not in endpoint:
            raise ValueError(f"sink 'zmq_pub' needs endpoint like \"tcp://127.0.0.1:5600\", got {endpoint!r}")
        if sndhwm < 1:
            raise ValueError("sink 'zmq_pub': sndhwm must be >= 1")
        if not isinstance(linger_ms, int) or linger_ms < 0:
            raise ValueError(f"sink 'zmq_pub': linger_ms must be an integer >= 0, got {linger_ms!r}")
        curve = None
        if curve_keys:
            try:
                curve = load_curve_keys(curve_keys)
            except ValueError as e:
                raise ValueError(f"sink 'zmq_pub': {e}") from None
        self.stream, self.curve, self.linger_ms = stream, curve is not None, linger_ms
        # CURVE needs a ZAP authenticator on the socket's own context (one per context), so it gets its own
        self._own_ctx = zmq.Context() if curve is not None else None
        ctx = self._own_ctx or context or zmq.Context.instance()
        self._auth = start_authenticator(ctx, curve) if curve is not None else None
        self._sock = ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, int(sndhwm))
        self._sock.setsockopt(zmq.LINGER, linger_ms)
        if curve is not None:
            if bind:
                self._sock.curve_secretkey, self._sock.curve_publickey = curve.server_secret, curve.server_public
                self._sock.curve_server = True
            else:
                self._sock.curve_serverkey = curve.server_public
                self._sock.curve_secretkey, self._sock.curve_publickey = curve.client_secret, curve.client_public
        try:
            (self._sock.bind if bind else self._sock.connect)(endpoint)
        except zmq.ZMQError as e:
            self.close()
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
        return {"sent": self.seq - self.dropped, "dropped": self.dropped, "curve": self.curve}

    def close(self) -> None:
        if self._sock.closed:
            return
        self._sock.close(linger=self.linger_ms)
        if self._auth is not None:
            self._auth.stop()
        if self._own_ctx is not None:
            self._own_ctx.term()
