"""A live event camera through dv-processing (`spikestream.sources.dv_camera`): a USB camera, or the network
stream of DV / a dv-processing ``NetworkWriter``. Needs ``pip install 'spikestream[dv]'``.

The same messages as the ``event_camera`` replay: events pass the filter chain and are cut into
``slice_us`` slices, one `Spikes` packet per slice on ``out`` (and `Events` on ``events`` with
``emit_events``). Live, not paced: a slice ``[t0, t1)`` goes out in the poll that sees the camera's first
event at or after ``t1`` (any event, also one the filters drop), with ``t_us = t1`` and ``origin_ns`` = the
wall time of that poll; when the stream ends, its last slice goes out at once. The filter and slicer
kernels run once on scratch events as soon as the sensor size is known (in setup when the stream answers
or width / height are given), so a kernel not in Numba's cache compiles before the first camera event
(tested in a fresh process: the first events load no further kernel); meanwhile the source's thread queues.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.filters import FilterChain
from spikestream.events.slicing import EventSlicer
from spikestream.nodes.event_camera import _COMMON, count_events, emit_slice
from spikestream.params import Param, Params, node_params
from spikestream.runtime.node import Node, register_node

MAX_SLICES_PER_POLL = 4096
_SOURCE_KEYS = ("address", "camera", "width", "height", "retry_s", "max_retry_s", "stale_s", "connect_wait_s",
                "reconnect", "queue_events", "drain_ms")


@register_node("dv_camera")
class DVCameraNode(Node):
    """A live event camera through dv-processing: a DV network stream or a USB camera (docs/devices.md).

    ``address = "host:port"`` (a DV / dv-processing network writer) or ``camera`` (a serial number; default:
    the first camera found). A host not reachable or a camera not found: a WARNING and retries with backoff,
    the node keeps serving; a stream that is not an event stream: the node does not start (exit 78); a stream
    that ends: one WARNING and a reconnection. Counters: events_in, events_kept, slices_out, connect_attempts,
    reconnects, stalls, dropped_events, late / reordered / overflow / rejected_events."""

    outputs = {"out": "spikes", "events": "events"}
    optional = frozenset({"events"})
    COMMANDS = {"status": "{}: connection, sensor size, next slice end and counters"}

    PARAMS = _COMMON.without("path", "speed", "pace", "loop", "max_lag_s") + Params(
        Param("address", str, None, doc='"host:port" of a DV / dv-processing network writer (TCP); '
              "without it, a camera"),
        Param("camera", str, None, doc="the camera's serial number (default: the first camera found)"),
        Param("width", int, None, unit="px", lo=1, doc="sensor width, when the stream does not say"),
        Param("height", int, None, unit="px", lo=1, doc="sensor height, when the stream does not say"),
        Param("retry_s", float, 1.0, unit="s", lo=0, lo_open=True, doc="first wait between connection attempts"),
        Param("max_retry_s", float, 30.0, unit="s", lo=0, lo_open=True, doc="the wait doubles up to this"),
        Param("stale_s", float, 2.0, unit="s", lo=0, lo_open=True, doc="no events for this long counts as a stall"),
        Param("connect_wait_s", float, 3.0, unit="s", lo=0, doc="setup waits this long for the first connection"),
        Param("reconnect", bool, True, doc="reconnect when the stream ends (false: the node finishes)"),
        Param("queue_events", int, 4_000_000, unit="events", lo=1,
              doc="bound on events received and not yet read (more are dropped, counted as dropped_events)"),
        Param("drain_ms", float, 1.0, unit="ms", lo=0, lo_open=True, doc="how often the receiving thread asks dv"),
        Param("poll_interval_us", int, 1000, unit="us", lo=1, doc="how often the node reads what was received"),
    )

    def setup(self) -> None:
        from spikestream.sources.dv_camera import DVEventSource

        p = self.p = node_params(self)
        if p["max_retry_s"] < p["retry_s"]:
            raise ValueError(f"dv_camera: max_retry_s ({p['max_retry_s']}) must be >= retry_s ({p['retry_s']})")
        self.slice_us, self.emit_events = p["slice_us"], p["emit_events"]
        self.chunk, self.budget = p["chunk_events"], p["max_events_per_poll"]
        self.poll_ns = 1000 * p["poll_interval_us"]
        self.src = DVEventSource(**{k: p[k] for k in _SOURCE_KEYS}, log=self.log)
        self.chain = self.slicer = None  # built once the sensor size is known (given, or the stream's)
        self.n_neurons = None
        self._done = False
        self._last_t: int | None = None  # the latest event time read
        for k in ("events_in", "events_kept", "slices_out"):
            self.counters[k] = 0
        self.counters.update(self.src.stats)
        try:
            self._build()
        except Exception:
            self.src.close()
            raise

    def _build(self) -> bool:
        """Build the filter chain and slicer once the sensor size is known; True when built."""
        if self.slicer is not None:
            return True
        if self.src.width is None:
            return False
        p = self.p
        filters = p["filters"]
        if p["downsample"] > 1:
            filters = [*filters, {"kind": "downsample", "factor": p["downsample"]}]
        def make():
            chain = FilterChain(filters, self.src.width, self.src.height)
            return chain, EventSlicer(chain.out_width, chain.out_height, self.slice_us, p["polarity"],
                                      keep_events=self.emit_events, max_events_per_slice=p["max_events_per_slice"])

        # kernels ready before the first camera event: two events through a scratch chain and slicer, so that
        # a kernel not in Numba's cache compiles here (in setup when the size is known: before the node reports
        # ready), not while the first slices wait
        chain, slicer = make()
        ev = np.zeros(2, EVENT_DTYPE)
        ev["t"] = (0, self.slice_us)
        chain.to_slicer(ev, slicer)
        slicer.advance(2 * self.slice_us)
        while slicer.pop() is not None:
            pass
        self.chain, self.slicer = make()
        self.n_neurons = self.slicer.n_neurons
        return True

    # ------------------------------------------------------------------ runtime callbacks
    def poll(self, now_ns: int) -> None:
        if self._done:
            return
        try:
            built = self._build()
        except ValueError as e:  # the filters do not fit the stream's sensor: say it once and stop serving
            self.log.error("dv_camera: %s: the filters do not fit its %d x %d sensor: %s; the node stops",
                           self.src.where, self.src.width, self.src.height, e)
            self.src.close()
            self._done = True
            return
        if not built:
            self.counters.update(self.src.stats)
            self._done = self.src.ended
            return
        budget = self.budget
        while budget > 0:
            ends = self.src.ends
            ev = self.src.read(min(self.chunk, budget))
            if ev.size:
                budget -= ev.size
                self.counters["events_in"] += int(ev.size)
                self.counters["events_kept"] += self.chain.to_slicer(ev, self.slicer)
                # the stream is in time order: nothing before its latest event comes any more, so slices up to
                # it are complete even when the filters dropped every event in them
                self._last_t = int(ev["t"].max())
                self.slicer.advance(self._last_t)
            if self.src.ends != ends and self._last_t is not None:
                t = self._last_t  # the stream ended: the slice holding its last event is complete
                self.slicer.advance(t - (t - self.slicer.origin_us) % self.slice_us + self.slice_us)
            if ev.size == 0:
                break
        self._send(now_ns)
        self.counters.update(self.src.stats)
        self._done = self.src.ended and not self.slicer.ready()

    def wake_at_ns(self) -> int | None:
        return None if self._done else time.time_ns() + self.poll_ns

    @property
    def finished(self) -> bool:
        return self._done

    def close(self) -> None:
        self.src.close()

    def on_command(self, cmd: str, args: dict[str, Any]) -> Any:
        if cmd == "status":
            return {"connected": self.src.connected, "where": self.src.where, "camera": self.src.name,
                    "sensor": [self.src.width, self.src.height], "n_neurons": self.n_neurons,
                    "next_slice_end_us": self.slicer.next_end() if self.slicer else None, **self.counters}
        return super().on_command(cmd, args)

    def _send(self, origin: int) -> None:
        sent = 0
        for _ in range(MAX_SLICES_PER_POLL):  # a long gap in the stream must not stall the loop
            s = self.slicer.pop()
            if s is None:
                break
            sent += emit_slice(self, s, origin)
            if sent >= self.budget:
                break
        count_events(self)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        if self.slicer is None:
            return {}
        st = {f"filters.{k}": v for k, v in self.chain.get_state().items()}
        st.update({f"slicer.{k}": v for k, v in self.slicer.get_state().items()})
        return st

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        part = {pre: {k[len(pre) + 1:]: v for k, v in state.items() if k.startswith(pre + ".")}
                for pre in ("filters", "slicer")}
        if self.slicer is None:
            raise ValueError("dv_camera: no state can be loaded before the stream gave its sensor size")
        extra = set(state) - {f"{pre}.{k}" for pre, d in part.items() for k in d}
        if extra:
            raise ValueError(f"dv_camera: unknown state entries {sorted(extra)}")
        before = self.chain.get_state()
        self.chain.set_state(part["filters"])
        try:
            self.slicer.set_state(part["slicer"])
        except ValueError:
            self.chain.set_state(before)  # refused as a whole: nothing written
            raise
