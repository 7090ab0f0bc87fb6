"""Testing nodes shipped with the library: a ramp source, a relay and a recording sink.

They let a pipeline (and the runtime's own tests) run with no sensor, and a stage be tested in a real
multi-process graph without writing a node.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from spikestream.params import Param, Params, node_params
from spikestream.protocol import Samples
from spikestream.runtime import Node, register_node


@register_node("ramp_source")
class RampSource(Node):
    """Samples of a ramp (value = sample index) at `rate_hz`, `chunk` samples per message."""

    outputs = {"out": "samples"}
    PARAMS = Params(
        Param("rate_hz", float, 100.0, unit="Hz", lo=0, lo_open=True, doc="sample rate"),
        Param("chunk", int, 1, unit="rows", lo=1, doc="rows per message"),
        Param("channels", int, 1, lo=1, doc="columns (all the same ramp)"),
        Param("limit", int, None, unit="rows", lo=0, doc="finish after this many samples"),
        Param("fail_setup", str, None, doc="testing: fail at start with this reason (a node that cannot start)"),
    )

    def setup(self) -> None:
        p = node_params(self)
        self.rate, self.chunk, self.channels = p["rate_hz"], p["chunk"], p["channels"]
        self.limit = p["limit"]  # stop (finish) after this many samples
        if p["fail_setup"]:
            raise ValueError(f"cannot start: {p['fail_setup']}")
        self.k = 0
        self.t0_ns: int | None = None

    def _due(self, k: int) -> int:
        return self.t0_ns + int(k * 1e9 / self.rate)

    def poll(self, now_ns: int) -> None:
        if self.t0_ns is None:
            self.t0_ns = now_ns
        while self._due(self.k + self.chunk - 1) <= now_ns and not self.finished:
            ks = np.arange(self.k, self.k + self.chunk)
            t_us = (ks * 1e6 / self.rate).astype(np.int64)
            data = np.repeat(ks.astype(np.float32)[:, None], self.channels, axis=1)
            self.emit("out", Samples(t_us, data, self.rate), int(t_us[-1]), time.time_ns())
            self.k += self.chunk

    def wake_at_ns(self) -> int | None:
        return None if self.t0_ns is None else self._due(self.k + self.chunk - 1)

    def get_state(self):
        return {"k": np.array(self.k)}

    def set_state(self, state):
        self.k = int(state["k"])

    @property
    def finished(self) -> bool:
        return self.limit is not None and self.k >= int(self.limit)


@register_node("relay")
class Relay(Node):
    """Sends every inbound message on unchanged (body, source time and origin). `die_after` messages,
    it exits hard (for supervisor tests)."""

    inputs = {"in": ("samples", "spikes", "control", "events")}
    outputs = {"out": "samples"}  # declared kind; a relay forwards whatever it receives
    PARAMS = Params(Param("die_after", int, None, unit="messages", lo=1, doc="exit hard (code 3) after this many"))

    def setup(self) -> None:
        self.die_after = node_params(self)["die_after"]
        self.n = 0

    def on_message(self, port, msg) -> None:
        self.emit("out", msg.body, msg.t_us, msg.origin_ns)
        self.n += 1
        if self.die_after is not None and self.n >= int(self.die_after):
            os._exit(3)


@register_node("recorder")
class Recorder(Node):
    """Counts what arrives; writes a JSON summary (count, last t_us, first/last values) to `path` on close."""

    inputs = {"in": ("samples", "spikes", "control", "events")}
    PARAMS = Params(Param("path", str, None, doc="write the JSON summary here (every 0.1 s and at close)"))

    def setup(self) -> None:
        self.path = node_params(self)["path"]
        self.n = 0
        self.last_t = None
        self.values: list[float] = []

    def on_message(self, port, msg) -> None:
        self.n += 1
        self.last_t = msg.t_us
        if msg.kind == "samples":
            self.values.extend(float(v) for v in msg.body.data[:, 0])
            del self.values[:-10000]

    def poll(self, now_ns: int) -> None:
        if self.path and self.n and now_ns - getattr(self, "_written", 0) > 100_000_000:
            self._written = now_ns
            self._write()

    def close(self) -> None:
        if self.path:
            self._write()

    def _write(self) -> None:
        with open(self.path + ".tmp", "w") as f:
            json.dump({"n": self.n, "last_t_us": self.last_t, "values": self.values}, f)
        os.replace(self.path + ".tmp", self.path)

    def on_command(self, cmd, args):
        if cmd == "count":
            return self.n
        return super().on_command(cmd, args)
