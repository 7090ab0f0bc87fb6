"""The actuator's side of the safety contract: a tiny client that an actuator's control loop runs itself.

    client = ActuatorClient("tcp://10.0.0.2:5600", n_outputs=2, safe_value=[0.0, 0.0], timeout_s=0.2)
    while running:
        r = client.read()          # never blocks
        motor.set(r.values)        # r.safe says whether this is the safe value, r.reason why
        sleep(tick)

`read()` returns the newest valid command, or the safe value when

* the output node said so (``Control(safe=True)``: its watchdog tripped, a callback failed, or it is
  stopping) -- ``reason = "safe"``, with the node's values (the safe value, or a slew step toward it);
* no valid command arrived within ``timeout_s`` (the client's own watchdog, on the monotonic clock: a
  hung or overloaded pipeline, a dead link) -- ``reason = "timeout"``;
* the publisher's connection dropped (the ZeroMQ equivalent of MQTT's last will: a socket monitor sees
  the TCP/IPC disconnect of a killed output process at once) -- ``reason = "disconnected"``, until a
  command arrives on a new connection;
* nothing has arrived yet -- ``reason = "waiting"``.

Malformed frames, other message kinds and commands of the wrong size are counted (`counts`) and ignored.
The client's own safe value is used whenever the client decides; the node's values when the node does.
ZeroMQ heartbeats (every ``timeout_s / 2``) make a silently dead peer (a pulled cable) end in a disconnect too.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from spikestream import protocol as P
from spikestream.transport import Curve, check_endpoint, load_curve_keys


@dataclass(frozen=True)
class Reading:
    values: np.ndarray  # float64[n_outputs]: what to apply now
    safe: bool  # True unless a fresh, live command is being applied
    reason: str  # "live", "safe", "timeout", "disconnected" or "waiting"
    age_s: float  # since the applied command was received (monotonic); inf when there is none
    t_us: int = 0  # source time of the applied command (0 when the client chose the safe value)


class ActuatorClient:
    def __init__(self, endpoint: str, n_outputs: int, safe_value=0.0, timeout_s: float = 0.5,
                 curve: Curve | str | os.PathLike | None = None, stream: str | None = None,
                 max_message_bytes: int = 1 << 16, clock=time.monotonic):
        check_endpoint(endpoint)
        if not isinstance(n_outputs, int) or n_outputs < 1:
            raise ValueError(f"n_outputs must be a positive integer, got {n_outputs!r}")
        sv = np.asarray(safe_value, np.float64)
        sv = np.full(n_outputs, float(sv)) if sv.ndim == 0 else sv
        if sv.shape != (n_outputs,) or not np.all(np.isfinite(sv)):
            raise ValueError(f"safe_value must be one finite number or {n_outputs} of them, got {safe_value!r}")
        if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.endpoint, self.n_outputs, self.safe_value, self.timeout_s = endpoint, n_outputs, sv, float(timeout_s)
        self.stream, self.max_message_bytes, self.clock = stream, int(max_message_bytes), clock
        if curve is not None and not isinstance(curve, Curve):
            curve = load_curve_keys(curve)
        self.counts = {"received": 0, "safe_msgs": 0, "rejected": 0, "connects": 0, "disconnects": 0,
                       "timeouts": 0}
        self._cmd: tuple[np.ndarray, bool, float, int] | None = None  # values, safe, t_received, t_us
        self._why = "waiting"
        self._timed_out = False
        self._ctx = zmq.Context()
        s = self._sock = self._ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 100)
        s.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        s.setsockopt(zmq.RECONNECT_IVL, 100)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        hb = max(50, int(self.timeout_s * 500))
        s.setsockopt(zmq.HEARTBEAT_IVL, hb)
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, max(hb, int(self.timeout_s * 1000)))
        if curve is not None:
            s.curve_serverkey = curve.server_public
            s.curve_secretkey, s.curve_publickey = curve.client_secret, curve.client_public
        s.setsockopt(zmq.SUBSCRIBE, b"")
        self._mon = s.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        s.connect(endpoint)

    # ------------------------------------------------------------------ the actuator's tick
    def read(self) -> Reading:
        """What to apply now (never blocks): the newest fresh command, or the safe value (see module doc)."""
        self._events()
        self._drain()
        now = self.clock()
        c = self._cmd
        if c is None:
            return Reading(self.safe_value.copy(), True, self._why, math.inf)
        values, safe, t_recv, t_us = c
        age = now - t_recv
        if age > self.timeout_s:
            if not self._timed_out:
                self._timed_out = True
                self.counts["timeouts"] += 1
            return Reading(self.safe_value.copy(), True, "timeout", age)
        return Reading(values.copy(), safe, "safe" if safe else "live", age, t_us)

    def _events(self) -> None:
        while self._mon.poll(0):
            ev = recv_monitor_message(self._mon)["event"]
            if ev == zmq.EVENT_CONNECTED:
                self.counts["connects"] += 1
            elif ev == zmq.EVENT_DISCONNECTED:  # the publisher went away: act now, not after the timeout
                self.counts["disconnects"] += 1
                self._drain()  # what it said before going (its safe value) is still counted
                self._cmd = None
                self._why = "disconnected"

    def _drain(self) -> None:
        for _ in range(10_000):  # bounded: RCVHWM keeps far fewer queued
            try:
                frame = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._take(frame)

    def _take(self, frame: bytes) -> None:
        try:
            msg = P.unpack(frame, self.max_message_bytes, ("control",))
        except P.ProtocolError:
            self.counts["rejected"] += 1
            return
        if self.stream is not None and msg.stream != self.stream:
            return
        v = np.asarray(msg.body.values, np.float64)
        if v.shape != (self.n_outputs,):
            self.counts["rejected"] += 1
            return
        self.counts["received"] += 1
        if msg.body.safe:
            self.counts["safe_msgs"] += 1
        self._cmd = (v, bool(msg.body.safe), self.clock(), int(msg.t_us))
        self._timed_out = False

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        try:
            self._sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self._mon.close(0)
        self._sock.close(0)
        self._ctx.term()

    def __enter__(self) -> "ActuatorClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m spikestream.actuator ENDPOINT --n 2 --safe 0 --timeout 0.2``: print what an actuator would
    apply, one JSON line per tick (for checking a deployment from the actuator's side)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m spikestream.actuator", description=main.__doc__)
    ap.add_argument("endpoint")
    ap.add_argument("--n", type=int, required=True, help="number of outputs")
    ap.add_argument("--safe", type=float, nargs="+", default=[0.0], help="safe value (one, or one per output)")
    ap.add_argument("--timeout", type=float, default=0.5, help="seconds without a fresh command -> safe value")
    ap.add_argument("--tick", type=float, default=0.1, help="seconds between readings")
    ap.add_argument("--count", type=int, default=0, help="stop after this many readings (0: run until Ctrl-C)")
    ap.add_argument("--curve", default=None, help="the pipeline's CURVE key folder")
    a = ap.parse_args(argv)
    safe = a.safe[0] if len(a.safe) == 1 else a.safe
    k = 0
    with ActuatorClient(a.endpoint, a.n, safe, a.timeout, curve=a.curve) as c:
        try:
            while a.count <= 0 or k < a.count:
                r = c.read()
                print(json.dumps({"values": r.values.tolist(), "safe": r.safe, "reason": r.reason,
                                  "age_s": None if math.isinf(r.age_s) else round(r.age_s, 4)}), flush=True)
                k += 1
                time.sleep(a.tick)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
