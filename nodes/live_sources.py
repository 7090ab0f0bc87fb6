"""Live source nodes (LSL, serial; BrainFlow in `brainflow_source.py`): drained on each poll with
non-blocking reads; their ``origin_ns`` is the acquisition time the source reports, and their counters
(gaps, missing and rejected samples, stalls, reconnects) are copied into the node's stats.
"""

from __future__ import annotations

import time

from spikestream.nodes.sources import INPUT_PARAMS, InputNode
from spikestream.params import REQUIRED, Param, Params, node_params
from spikestream.protocol import Samples
from spikestream.runtime.node import register_node

LIVE = INPUT_PARAMS + Params(
    Param("max_rows_per_poll", int, 100_000, unit="rows", lo=1, doc="bound on rows read per poll"),
    Param("poll_interval_us", int, 500, unit="us", lo=1, doc="how often the source is drained"),
)


class LiveSourceNode(InputNode):
    """Drain a non-blocking live source on every poll; ``poll_interval_us`` sets the wake-up hint."""

    def _make_source(self):
        raise NotImplementedError

    PARAMS = LIVE

    def setup(self) -> None:
        self.p = node_params(self)
        self.max_rows = self.p["max_rows_per_poll"]
        self.poll_ns = 1000 * self.p["poll_interval_us"]
        self.src = self._make_source()
        self._setup_encoder()

    def warm(self) -> None:
        """The input check's kernel (`TimeChecker`, on float32 rows as every live source hands them: the real
        check is not touched) and the inline encoder's, before the first row arrives."""
        import numpy as np

        from spikestream.sources._base import TimeChecker

        TimeChecker(1000.0, {}, self.log, "warm").admit(np.array([0, 1000], np.int64), np.zeros((2, 1), np.float32))
        super().warm()

    def poll(self, now_ns: int) -> None:
        got = 0
        while got < self.max_rows:
            c = self.src.read(min(4096, self.max_rows - got))
            n = c.t_us.size
            if n == 0:
                break
            got += n
            self._publish(Samples(c.t_us, c.data, self.src.rate_hz, self.src.channels), int(c.t_us[-1]), c.origin_ns)
        self.counters.update(self.src.stats)

    def wake_at_ns(self) -> int | None:
        return time.time_ns() + self.poll_ns

    def close(self) -> None:
        self.src.close()


@register_node("lsl_source")
class LSLSourceNode(LiveSourceNode):
    """An LSL inlet. Params: name / type / source_id (at least one), channels (expected count, optional),
    clocksync=true, dejitter=false, stale_s=1.0, buffer_s=10, poll_interval_us=500."""

    PARAMS = LIVE + Params(
        Param("name", str, None, doc="the stream's name (give at least one of name, type, source_id)"),
        Param("type", str, None, doc="the stream's type"),
        Param("source_id", str, None, doc="the stream's source id"),
        Param("channels", int, None, lo=1, doc="the expected channel count"),
        Param("clocksync", bool, True, doc="map the outlet's clock to this machine's"),
        Param("dejitter", bool, False, doc="smooth the time stamps"),
        Param("stale_s", float, 1.0, unit="s", lo=0, lo_open=True, doc="no sample for this long counts as a stall"),
        Param("buffer_s", int, 10, unit="s", lo=1, doc="the inlet's buffer"),
        Param("max_samples", int, 4096, lo=1, doc="samples pulled per read"),
    )

    def _make_source(self):
        from spikestream.sources.lsl import LSLSource

        keys = ("name", "type", "source_id", "channels", "clocksync", "dejitter", "stale_s", "buffer_s", "max_samples")
        return LSLSource(**{k: self.p[k] for k in keys if k in self.params}, log=self.log)


@register_node("serial_source")
class SerialSourceNode(LiveSourceNode):
    """A serial port. Params: port, channels, rate_hz, baudrate=115200, format="csv"|"binary",
    timestamps="device"|"counter", queue_rows=100000, reconnect_s=0.5 (see docs/sources.md)."""

    PARAMS = LIVE + Params(
        Param("port", str, REQUIRED, doc="the serial device, e.g. /dev/ttyACM0"),
        Param("channels", int, REQUIRED, lo=1, doc="values per row"),
        Param("rate_hz", float, 0.0, unit="Hz", lo=0, doc="the nominal rate (needed with timestamps = \"counter\")"),
        Param("baudrate", int, 115200, lo=1, doc="line speed"),
        Param("format", str, "csv", choices=("csv", "binary"), doc="the device's framing (docs/sources.md)"),
        Param("timestamps", str, "device", choices=("device", "counter"), doc="where times come from"),
        Param("queue_rows", int, 100_000, unit="rows", lo=1, doc="bound on rows queued by the reader thread"),
        Param("reconnect_s", float, 0.5, unit="s", lo=0, lo_open=True, doc="wait between reconnection attempts"),
    )

    def _make_source(self):
        from spikestream.sources.serial_port import SerialSource

        keys = ("port", "channels", "rate_hz", "baudrate", "format", "timestamps", "queue_rows", "reconnect_s")
        return SerialSource(**{k: self.p[k] for k in keys}, log=self.log)
