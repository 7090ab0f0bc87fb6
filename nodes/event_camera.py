"""Event-camera input nodes: a recorded event file (``event_camera``) or frames through the v2e-style
emulator (``frames_to_events``), filtered, sliced and sent as one `Spikes` packet per time slice.

Both replay at recorded pace times ``speed`` (``speed = 0`` or ``"fast"``, or ``pace = "fast"`` as on the
samples sources: as fast as possible; `spikestream.sources.pacing.Pacer`), never block
(reading and emitting are bounded per poll; pacing via `wake_at_ns`) and keep bounded memory whatever the
file size. A slice ``[t0, t1)`` goes out with ``t_us = t1`` and ``origin_ns`` = the wall time it became due
(pacing) or was produced (fast). Slices more than ``max_lag_s`` overdue are dropped and counted.

Common params: path, speed=1.0, slice_us=1000, filters=[{kind=..., ...}, ...], downsample=1 (applied after
the filters), polarity="both"|"merge"|"on"|"off", loop=false, emit_events=false (also send `Events` on the
"events" port), chunk_events=65536, max_events_per_poll=1048576, max_events_per_slice=1000000, max_lag_s=1.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.emulator import EmulatorParams, FrameEmulator, FrameReader
from spikestream.events.filters import FilterChain
from spikestream.events.slicing import POLARITY_MODES, EventSlicer
from spikestream.params import REQUIRED, Param, Params, node_params, selector
from spikestream.protocol import Events, Spikes
from spikestream.registry import EVENT_FILTERS
from spikestream.sources.pacing import PACE, SPEED, Pacer, pacing_speed
from spikestream.runtime.node import Node, register_node

MAX_SLICES_PER_POLL = 4096


_COMMON = Params(
    Param("path", str, REQUIRED, doc="the recording (a file, or for frames_to_events a folder of images)"),
    SPEED,
    PACE,
    Param("slice_us", int, 1000, unit="us", lo=1, doc="one spike packet per time slice of this length"),
    Param("filters", list, [], items=dict, check=selector(EVENT_FILTERS), doc="event filters, in order: [{kind = ..., ...}, ...] (docs/event-streaming.md)"),
    Param("downsample", int, 1, lo=1, doc="sensor downsampling factor, after the filters"),
    Param("polarity", str, "both", choices=tuple(POLARITY_MODES), doc="how polarities map to neurons"),
    Param("loop", bool, False, doc="start over at the end (times keep increasing)"),
    Param("emit_events", bool, False, doc="also send the events of each slice on `events`"),
    Param("chunk_events", int, 1 << 16, unit="events", lo=1, doc="events read per chunk"),
    Param("max_events_per_poll", int, 1 << 20, unit="events", lo=1, doc="work bound per poll"),
    Param("max_events_per_slice", int, 1_000_000, unit="events", lo=1, doc="a fuller slice is cut (counted as overflow)"),
    Param("max_lag_s", float, 1.0, unit="s", lo=0, lo_open=True, doc="slices more overdue than this are dropped"),
)


def emit_slice(node: Node, s, origin: int) -> int:
    """One slice out of an event node's slicer: its spikes on `out` (and its events on `events` when the node
    sends them), counted; returns its spike count (for the node's per-poll budget)."""
    node.emit("out", Spikes(s.t0_us, s.t1_us, node.n_neurons, s.idx, s.t_us), s.t1_us, origin)
    if node.emit_events:
        e = s.events
        node.emit("events", Events(s.t0_us, s.t1_us, node.slicer.width, node.slicer.height,
                                   e["x"], e["y"], e["t"], e["p"]), s.t1_us, origin)
    node.counters["slices_out"] += 1
    return s.idx.size


def count_events(node: Node) -> None:
    """The slicer's and the filter chain's own counts, copied into the node's counters."""
    for k, v in (("late_events", node.slicer.late), ("reordered_events", node.slicer.reordered),
                 ("overflow_events", node.slicer.overflow), ("rejected_events", node.chain.rejected)):
        node.counters[k] = v


class EventReplayNode(Node):
    """Shared engine: pull events from `_read`, filter, slice, pace, emit. Subclasses provide the source."""

    outputs = {"out": "spikes", "events": "events"}
    optional = frozenset({"events"})
    PARAMS = _COMMON
    COMMANDS = {"speed": "{value}: replay speed from the next slice on (0 or \"fast\" = as fast as it goes)",
                "status": "{}: speed, next slice end, finished, sensor size and counters"}

    # ------------------------------------------------------------------ subclass hooks
    def _open(self) -> tuple[int, int]:
        """Open the source (again, when looping); return the sensor (width, height)."""
        raise NotImplementedError

    def _read(self, max_events: int) -> tuple[np.ndarray, int] | None:
        """(up to about ``max_events`` events in time order, work done in event units; 0 = nothing yet),
        or None at the end of the source."""
        raise NotImplementedError

    def _close_source(self) -> None:
        pass

    def _source_state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_source_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        p = self.p = node_params(self)
        if not p["path"]:
            raise ValueError(f"{self.kind}: parameter 'path' (a file) is required")
        self.slice_us, self.loop, self.emit_events = p["slice_us"], p["loop"], p["emit_events"]
        self.chunk, self.budget = p["chunk_events"], p["max_events_per_poll"]
        self.pacer = Pacer(pacing_speed(p), p["max_lag_s"])  # a slice's end time is its due time
        polarity, filters, ds = p["polarity"], p["filters"], p["downsample"]
        if ds > 1:
            filters = [*filters, {"kind": "downsample", "factor": ds}]
        self.width, self.height = self._open()
        self.chain = FilterChain(filters, self.width, self.height)
        self.slicer = EventSlicer(self.chain.out_width, self.chain.out_height, self.slice_us, polarity,
                                  keep_events=self.emit_events,
                                  max_events_per_slice=p["max_events_per_slice"])
        self.n_neurons = self.slicer.n_neurons
        self._eof = False
        self._done = False
        self._offset = 0  # added to source times (grows on every loop)
        self._pass_t = np.array([0, -1, 0], np.int64)  # first raw t this pass, last raw t, have-first
        self._consumed = 0  # source units consumed in this pass (events or frames)
        for k in ("events_in", "events_kept", "slices_out", "slices_dropped", "loops"):
            self.counters[k] = 0

    def warm(self) -> None:
        """Load the reader's, the filters' and the slicer's kernels: a scratch node of the same parameters (its own
        reader on the same recording) reads, filters and slices two small chunks as fast as it goes and sends
        them nowhere. The real reader, filters and slicer are not touched."""
        from spikestream.runtime.warm import scratch

        s = scratch(self, pace="fast", chunk_events=4096, max_events_per_poll=8192)
        try:
            for _ in range(2):
                s.poll(0)
        finally:
            s.close()

    # ------------------------------------------------------------------ runtime callbacks
    def poll(self, now_ns: int) -> None:
        if self._done:
            return
        budget = self.budget
        if self.pacer.fast:  # read a chunk, send what it completed, repeat: pending stays about one chunk
            while budget > 0 and not self._eof and not self.slicer.ready():
                cost = self._fill_once(budget)
                self._send(now_ns)
                if cost == 0:
                    break
                budget -= cost
        else:  # read until the next slice is complete, then send what is due
            while budget > 0 and not self._eof and not self.slicer.ready():
                cost = self._fill_once(budget)
                if cost == 0:
                    break
                budget -= cost
            if not self.pacer.anchored and self.slicer.next_end() is not None:
                self.pacer.anchor(now_ns, self.slicer.next_end() - self.slice_us)
        self._send(now_ns)
        self._done = self._eof and not self.slicer.ready()

    def wake_at_ns(self) -> int | None:
        if self._done:
            return None
        if self.pacer.fast or not self.pacer.anchored or not self.slicer.ready():
            return 0  # more to do right away (a paced replay reads until its next slice is complete)
        return self.pacer.due_ns(self.slicer.next_end())

    @property
    def finished(self) -> bool:
        return self._done

    def close(self) -> None:
        self._close_source()

    def on_command(self, cmd: str, args: dict[str, Any]) -> Any:
        """``speed {value}``: change the replay speed (0 = fast) from the next slice on; ``status``."""
        if cmd == "speed":
            try:
                self.pacer.set_speed(SPEED.convert(args.get("value")))
            except ValueError as e:
                raise ValueError(f"speed {e}") from None
            # (set_speed forgets the anchor: the next poll anchors the next slice to its wall time)
            return {"speed": self.pacer.speed}
        if cmd == "status":
            return {"speed": self.pacer.speed, "next_slice_end_us": self.slicer.next_end(), "finished": self._done,
                    "n_neurons": self.n_neurons, "sensor": [self.slicer.width, self.slicer.height],
                    **self.counters}
        return super().on_command(cmd, args)

    # ------------------------------------------------------------------ the engine
    def _fill_once(self, budget: int) -> int:
        """Read one chunk (restarting the source when looping), filter it, push it to the slicer.
        Returns the work done in event units; 0 when nothing could be read."""
        got = self._read(min(self.chunk, budget))
        if got is None and self.loop and self._consumed > 0:
            self._restart()
            got = self._read(min(self.chunk, budget))
        if got is None:
            self._eof = True
            self.slicer.finish()
            return 0
        ev, cost = got
        if ev.size:
            self._account(ev)
            if self._offset:
                ev = ev.copy()
                ev["t"] += self._offset
            self.counters["events_kept"] += self.chain.to_slicer(ev, self.slicer)  # filter + map in one pass
        return cost

    def _account(self, ev: np.ndarray) -> None:
        self.counters["events_in"] += int(ev.size)
        if not self._pass_t[2]:
            self._pass_t[0], self._pass_t[2] = ev["t"].min(), 1
        self._pass_t[1] = max(int(self._pass_t[1]), int(ev["t"].max()))

    def _restart(self) -> None:
        self._offset += int(self._pass_t[1] - self._pass_t[0]) + 1
        self._pass_t[:] = (0, -1, 0)
        self._consumed = 0
        self.counters["loops"] += 1
        self._close_source()
        self._open()

    def _send(self, now_ns: int) -> None:
        sent = 0
        for _ in range(MAX_SLICES_PER_POLL):  # a long gap in the recording must not stall the loop
            if not self.pacer.fast:
                if not self.slicer.ready():
                    break
                due = self.pacer.due_ns(self.slicer.next_end())
                if due > now_ns:
                    break
                if self.pacer.overdue(due, now_ns):
                    self.slicer.pop()
                    self.counters["slices_dropped"] += 1
                    continue
                origin = due
            else:
                origin = now_ns
            s = self.slicer.pop()
            if s is None:  # fast mode asks pop directly (ready() would do the same test twice)
                break
            sent += emit_slice(self, s, origin)
            if sent >= self.budget:
                break
        count_events(self)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        st = {f"filters.{k}": v for k, v in self.chain.get_state().items()}  # copies already
        st.update({f"slicer.{k}": v for k, v in self.slicer.get_state().items()})
        st.update({f"source.{k}": v for k, v in self._source_state().items()})
        st["replay"] = np.array([self._offset, self._consumed, *self._pass_t], np.int64)
        return st

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if "replay" not in state or np.asarray(state["replay"]).shape != (5,):
            raise ValueError(f"{self.kind}: state lacks a valid 'replay' entry")
        part = {pre: {k[len(pre) + 1:]: v for k, v in state.items() if k.startswith(pre + ".")}
                for pre in ("filters", "slicer", "source")}
        self.chain.set_state(part["filters"])
        self.slicer.set_state(part["slicer"])
        r = np.asarray(state["replay"], np.int64)
        self._offset, consumed = int(r[0]), int(r[1])
        self._pass_t[:] = r[2:]
        self._close_source()
        self._open()
        self._set_source_state(part["source"])
        self._skip(consumed)  # reads (and drops) what the interrupted run had consumed: once, at start
        self._consumed = consumed
        self.pacer.reset()  # pacing restarts from the restored position
        self._eof = self._done = False


def _format_name(v: str | None) -> str | None:
    """A registered event format (or alias), checked at load; the error lists the registered ones."""
    from spikestream.events.io import format_name

    return format_name(v) if v else None  # "" as absent: detected, as open_reader takes it


@register_node("event_camera")
class EventCameraNode(EventReplayNode):
    """Replay an event file (any format `spikestream.events.io.open_reader` reads). Extra params: format
    (default: detected), width / height (when the file does not say, or to override)."""

    PARAMS = _COMMON + Params(
        Param("format", str, None, check=_format_name, doc="the file format (default: detected)"),
        Param("width", int, None, unit="px", lo=1, doc="sensor width, when the file does not say (or to override)"),
        Param("height", int, None, unit="px", lo=1, doc="sensor height, when the file does not say (or to override)"),
    )

    def _open(self) -> tuple[int, int]:
        from spikestream.events.io import open_reader

        p = self.p
        try:
            self._reader = open_reader(p["path"], p["format"], chunk_events=p["chunk_events"])
        except (OSError, ValueError) as e:
            raise ValueError(f"event_camera: cannot open {p['path']!r}: {e}") from None
        w = p["width"] if p["width"] is not None else self._reader.width
        h = p["height"] if p["height"] is not None else self._reader.height
        if w is None or h is None:
            self._reader.close()
            raise ValueError(f"event_camera: {p['path']!r} does not give the sensor size; set width and height")
        if int(w) < 1 or int(h) < 1:
            self._reader.close()
            raise ValueError(f"event_camera: {p['path']!r} gives a sensor of {w} x {h}; set width and height")
        return int(w), int(h)

    def _read(self, max_events: int) -> tuple[np.ndarray, int] | None:
        ev = self._reader.read(max_events)
        if ev.size == 0:
            return None
        self._consumed += int(ev.size)
        return ev, int(ev.size)

    def _skip(self, n: int) -> None:
        while n > 0:
            got = self._reader.read(min(n, self.chunk)).size
            if got == 0:
                break
            n -= got

    def _close_source(self) -> None:
        r = getattr(self, "_reader", None)
        if r is not None:
            r.close()
            self._reader = None


def _emulator_table(v: dict) -> dict:
    try:
        EmulatorParams.from_dict(v)  # its own checks (names, ranges), at load
    except (TypeError, ValueError) as e:
        raise ValueError(str(e).removeprefix("emulator: ")) from None
    return v


@register_node("frames_to_events")
class FramesToEventsNode(EventReplayNode):
    """Frames (an .npy stack [n, H, W(, 3)] or a directory of images) through the v2e-style emulator.
    Extra params: frame_rate_hz=30, frames_per_read=4, emulator={pos_thres=..., ...} (see
    `spikestream.events.emulator.EmulatorParams`)."""

    PARAMS = _COMMON + Params(
        Param("frame_rate_hz", float, 30.0, unit="Hz", lo=0, lo_open=True, doc="the frames' rate"),
        Param("frames_per_read", int, 4, lo=1, doc="frames emulated per read"),
        Param("emulator", dict, {}, check=_emulator_table,
              doc="emulator parameters (`spikestream.events.emulator.EmulatorParams`)"),
    )

    def _open(self) -> tuple[int, int]:
        p = self.p
        rate = p["frame_rate_hz"]
        t0 = 0
        if getattr(self, "_frames", None) is not None:  # looping: the next pass follows on in time
            t0 = int(self._frames.times(self._frames.n_frames, 1)[0])
        try:
            self._frames = FrameReader(p["path"], rate, t0)
        except (OSError, ValueError) as e:
            raise ValueError(f"frames_to_events: cannot open {p['path']!r}: {e}") from None
        if not hasattr(self, "_emu"):
            self._emu = FrameEmulator(self._frames.width, self._frames.height, EmulatorParams.from_dict(p["emulator"]))
            self._per_read = p["frames_per_read"]
        return self._frames.width, self._frames.height

    def _restart(self) -> None:  # frame times continue on their own; no time offset
        self._pass_t[:] = (0, -1, 0)
        self._consumed = 0
        self.counters["loops"] += 1
        self._open()

    def _read(self, max_events: int) -> tuple[np.ndarray, int] | None:
        frames, t = self._frames.read(self._per_read)
        if frames.shape[0] == 0:
            return None
        self._consumed += frames.shape[0]
        ev = self._emu.feed(frames, t)
        return ev, max(int(ev.size), frames[0].size * frames.shape[0])  # a frame's work is its pixels

    def _skip(self, n: int) -> None:
        while n > 0:
            f, _ = self._frames.read(min(n, 64))
            if f.shape[0] == 0:
                break
            n -= f.shape[0]

    def _source_state(self) -> dict[str, np.ndarray]:
        return {**self._emu.get_state(), "frames_t0": np.array([self._frames.t0_us], np.int64)}

    def _set_source_state(self, state: dict[str, np.ndarray]) -> None:
        state = dict(state)
        t0 = np.asarray(state.pop("frames_t0", np.zeros(0)))
        if t0.shape != (1,):
            raise ValueError("frames_to_events: state lacks source.frames_t0")
        self._emu.set_state(state)
        self._frames = FrameReader(self.params["path"], self._frames.frame_rate_hz, int(t0[0]))

    def _close_source(self) -> None:
        f = getattr(self, "_frames", None)
        if f is not None:
            f.close()
