"""The node's ZeroMQ sockets, for `NodeRunner` (split out of loop.py): outputs and control bound (retrying an
endpoint in use for a moment), inputs connected once started, lost connections watched and re-made."""

from __future__ import annotations

import time

import zmq

from spikestream import transport

SEND_RETRY_MS = 5  # a lossless send blocked by a full queue retries at this period, serving commands in between
RECONNECT_GRACE_S = 0.05  # a lost input connection ZeroMQ does not retry within this is reconnected (_watch)


class BindError(OSError):
    """An endpoint this node must bind is taken or unusable (a configuration error: exit EX_CONFIG)."""


class SocketsMixin:
    """`NodeRunner`'s sockets (uses its spec, stats, warn and stats_endpoint)."""

    def _open_inputs(self) -> None:
        """Before warm(): the context and the input sockets, connected but subscribed only to the "starting"
        topic (runtime/start.py), which no data frame matches: the senders see a reader that is alive and
        still starting, and nothing queues here meanwhile. The start subscribes them to everything."""
        spec = self.spec
        self._ctx = zmq.Context()
        curve = transport.load_curve_keys(spec.curve_keys) if spec.curve_keys else None
        self._auth = transport.start_authenticator(self._ctx, curve) if curve else None
        self._opt = opt = transport.SocketOptions(spec.hwm, spec.linger_ms, spec.max_message_bytes, curve)
        self._ins = {transport.sub(self._ctx, [], opt): p for p in spec.inputs}
        self._starting_topics: set[bytes] = set()
        for sock in self._ins:
            sock.setsockopt(zmq.UNSUBSCRIBE, b"")  # until the start
        self._say_starting({spec.name})
        for sock, p in self._ins.items():
            for ep in spec.inputs[p]:
                sock.connect(ep)
        self._monitors = {transport.watch_disconnects(sock): sock for sock in self._ins}  # see _watch
        self._lost: dict[tuple[zmq.Socket, str], float] = {}  # (input socket, endpoint) -> when to reconnect

    def _open_sockets(self) -> None:
        """After warm(): outputs and control bound, the stats socket, the poller."""
        spec, opt = self.spec, self._opt
        try:
            self._out = {p: _bind(lambda: transport.pub(self._ctx, ep, opt, xpub=True), f"output {p!r}", ep)
                         for p, ep in spec.outputs.items()}
            self._ctl = _bind(lambda: transport.rep(self._ctx, spec.control, opt), "control", spec.control) \
                if spec.control else None
        except BindError:
            if self._auth is not None:
                self._auth.stop()
            self._ctx.destroy(linger=0)
            raise
        if spec.flow == "lossless":  # a full subscriber queue: EAGAIN instead of a silent drop (see _emit)
            for sock in self._out.values():
                sock.setsockopt(zmq.XPUB_NODROP, 1)
                sock.setsockopt(zmq.SNDTIMEO, SEND_RETRY_MS)
        self._linger_ms = spec.linger_ms  # for the outputs at exit (longer for lossless flow, see run)
        self._said_waiting = self._said_holding = False
        self._stats_sock = transport.pub(self._ctx, self.stats_endpoint, opt, bind=False) if self.stats_endpoint else None
        self._xpubs = {sock: p for p, sock in self._out.items()}
        self._subscribers = dict.fromkeys(self._out, 0)
        self._starting_readers: dict[str, set[str]] = {p: set() for p in self._out}  # runtime/start.py
        self._poller = zmq.Poller()
        for sock in [*self._xpubs, *self._ins, *([self._ctl] if self._ctl else [])]:
            self._poller.register(sock, zmq.POLLIN)
        for mon in self._monitors:
            self._poller.register(mon, zmq.POLLIN)

    def _watch(self, monitor: zmq.Socket) -> None:
        """An input lost a connection. A peer that went away, or a failed handshake, ZeroMQ retries by itself
        (CONNECT_RETRIED follows at once). A frame over `max_message_bytes` it dropped with the connection,
        for good (transport.watch_disconnects): that endpoint is reconnected here, after RECONNECT_GRACE_S,
        so the oversize frame is all that is lost (and what was in flight with it, counted as a gap)."""
        sub = self._monitors[monitor]
        for event, ep in transport.connection_events(monitor):
            if event == zmq.EVENT_DISCONNECTED:
                self._lost[(sub, ep)] = time.monotonic() + RECONNECT_GRACE_S
            else:
                self._lost.pop((sub, ep), None)

    def _reconnect_lost(self) -> None:
        now = time.monotonic()
        for (sub, lost), due in list(self._lost.items()):
            if now < due:
                continue
            del self._lost[(sub, lost)]
            port = self._ins[sub]
            eps = self.spec.inputs[port]
            self.stats.input_reconnects += 1
            self.warn.warning(f"reconnect:{port}", f"input {port!r}: ZeroMQ closed its connection to {lost} for good "
                                                   f"(a frame over max_message_bytes = {self.spec.max_message_bytes}?); "
                                                   "connecting again")
            for ep in [lost] if lost in eps else eps:  # an endpoint ZeroMQ names differently: all of them
                try:
                    sub.disconnect(ep)
                except zmq.ZMQError:
                    pass
                sub.connect(ep)


#: How long a node keeps trying an endpoint that is in use before it gives up (exit 78): a port can be held
#: for a moment by an outgoing connection that took it as its source port, or by a predecessor still closing.
BIND_RETRY_S = 3.0


def _bind(make, what: str, endpoint: str) -> zmq.Socket:
    end = time.monotonic() + BIND_RETRY_S
    while True:
        try:
            return make()
        except zmq.ZMQError as e:
            if e.errno == zmq.EADDRINUSE and time.monotonic() < end:
                time.sleep(0.1)
                continue
            why = f"in use by another process (for {BIND_RETRY_S:g} s)" if e.errno == zmq.EADDRINUSE else e.strerror
            raise BindError(f"cannot bind {what} at {endpoint}: {why}") from None
