"""Events -> fixed time slices of neuron indices for the SNN, as a causal, chunk-invariant stage.

Slices are the windows ``[t0, t0 + slice_us)`` on a grid aligned to ``origin_us`` (default 0), starting at
the slice holding the first event. Every slice is produced, empty ones too: "no events in [t0, t1)" is
information. Neuron index of an event (after the filter chain, so after any downsampling):

* ``polarity="both"``: ``(p * height + y) * width + x`` (``2 * width * height`` neurons);
* ``"merge"``: ``y * width + x``; ``"on"`` / ``"off"``: the same, for ON (p = 1) or OFF (p = 0) events only.

Use: `push` events (any chunking), then `pop` completed slices one at a time (a pull, so a long gap in the
recording never floods memory with empty slices). A slice is complete once an event at or after its end was
pushed, `advance` declared time passed, or `finish` declared the end of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream.events.dtype import EVENT_DTYPE

POLARITY_MODES = ("both", "merge", "on", "off")


@njit(cache=True)
def _map_events(x, y, t, p, width, height, both, clock, idx_out, t_out):
    """Neuron index per event; times clamped to be non-decreasing. ``clock = [last time, n clamped]``."""
    last = clock[0]
    for i in range(x.size):
        ti = t[i]
        if ti < last:
            ti = last
            clock[1] += 1
        last = ti
        k = np.int64(y[i]) * width + np.int64(x[i])
        if both:
            k += np.int64(p[i] != 0) * width * height
        idx_out[i] = k
        t_out[i] = ti
    clock[0] = last


@dataclass(slots=True)
class Slice:
    """One time slice: neuron ``idx[i]`` fired at ``t_us[i]`` in ``[t0_us, t1_us)``; ``events`` the events."""

    t0_us: int
    t1_us: int
    idx: np.ndarray  # uint32
    t_us: np.ndarray  # int64
    events: np.ndarray | None  # EVENT_DTYPE, when the slicer keeps events


class EventSlicer:
    """Cut a stream of (filtered) events into fixed slices of neuron indices."""

    def __init__(self, width: int, height: int, slice_us: int, polarity: str = "both", origin_us: int = 0,
                 keep_events: bool = False, max_events_per_slice: int = 1_000_000):
        for name, v, lo in (("width", width, 1), ("height", height, 1), ("slice_us", slice_us, 1),
                            ("max_events_per_slice", max_events_per_slice, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"slicer: {name} must be an integer >= {lo}, got {v!r}")
        if polarity not in POLARITY_MODES:
            raise ValueError(f"slicer: polarity must be one of {', '.join(POLARITY_MODES)}, got {polarity!r}")
        if isinstance(origin_us, bool) or not isinstance(origin_us, (int, np.integer)):
            raise ValueError(f"slicer: origin_us must be an integer, got {origin_us!r}")
        self.width, self.height, self.slice_us = int(width), int(height), int(slice_us)
        self.polarity, self.origin_us, self.keep_events = polarity, int(origin_us), bool(keep_events)
        self.max_events_per_slice = int(max_events_per_slice)
        self.n_neurons = self.width * self.height * (2 if polarity == "both" else 1)
        self._next_t0 = None  # start of the next slice to pop, once the first event fixed the grid
        self._clock = np.array([np.iinfo(np.int64).min, 0], np.int64)  # last time, count of clamped times
        self._idx = np.zeros(0, np.uint32)
        self._t = np.zeros(0, np.int64)
        self._ev = np.zeros(0, EVENT_DTYPE)
        self._done_until: int | None = None  # no event before this time will be pushed any more
        self._finished = False
        self.late = 0  # events older than a slice already popped (dropped)
        self.overflow = 0  # events beyond max_events_per_slice (dropped)

    @property
    def reordered(self) -> int:
        """Events whose time went backwards and was clamped to the latest time seen."""
        return int(self._clock[1])

    @property
    def pending(self) -> int:
        return int(self._t.size)

    def push(self, ev: np.ndarray) -> None:
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"slicer: events must have EVENT_DTYPE, got {ev.dtype}")
        if self._finished:
            raise ValueError("slicer: push after finish")
        if self.polarity in ("on", "off"):
            ev = ev[(ev["p"] != 0) == (self.polarity == "on")]
        if ev.size == 0:
            return
        idx = np.empty(ev.size, np.uint32)
        t = np.empty(ev.size, np.int64)
        _map_events(ev["x"], ev["y"], ev["t"], ev["p"], self.width, self.height, self.polarity == "both",
                    self._clock, idx, t)
        self._append(idx, t, ev)

    def push_mapped(self, idx: np.ndarray, t: np.ndarray) -> None:
        """Push events already mapped to (neuron index, time) the way `push` maps them, with this slicer's
        ``_clock`` (`FilterChain.to_slicer` does it inside the filter pass). Not with ``keep_events``."""
        if self._finished:
            raise ValueError("slicer: push after finish")
        if self.keep_events:
            raise ValueError("slicer: push_mapped cannot keep events")
        if t.size:
            self._append(idx, t, None)

    def _append(self, idx: np.ndarray, t: np.ndarray, ev: np.ndarray | None) -> None:
        if self._next_t0 is None:
            self._next_t0 = self._floor(int(t[0]))
        elif t[0] < self._next_t0:  # only possible for the first events after a restore or an advance
            n_late = int(np.searchsorted(t, self._next_t0, "left"))
            self.late += n_late
            idx, t = idx[n_late:], t[n_late:]
            ev = None if ev is None else ev[n_late:]
        self._idx = np.concatenate([self._idx, idx])
        self._t = np.concatenate([self._t, t])
        if self.keep_events:
            self._ev = np.concatenate([self._ev, ev])

    def advance(self, until_us: int) -> None:
        """Declare that no event before ``until_us`` will come: slices ending by then are complete."""
        self._done_until = int(until_us) if self._done_until is None else max(self._done_until, int(until_us))
        if self._next_t0 is None:
            self._next_t0 = self._floor(int(until_us))

    def finish(self) -> None:
        """End of stream: the slice holding the last pushed event becomes complete."""
        self._finished = True

    def next_end(self) -> int | None:
        """End time of the next slice to pop (complete or not), None before the first event."""
        return None if self._next_t0 is None else self._next_t0 + self.slice_us

    def ready(self) -> bool:
        """True when `pop` would return a slice."""
        return self._next_t0 is not None and self._complete(self._next_t0 + self.slice_us)

    def _complete(self, t1: int) -> bool:
        t = self._t
        if t.size and t[-1] >= t1:
            return True
        if self._done_until is not None and self._done_until >= t1:
            return True
        return self._finished and t.size > 0

    def pop(self) -> Slice | None:
        """The next complete slice, or None."""
        t0 = self._next_t0
        if t0 is None:
            return None
        t1 = t0 + self.slice_us
        if not self._complete(t1):
            return None
        n = int(self._t.searchsorted(t1, "left"))  # the method: numpy's function wrapper costs ~1 us a call
        keep = min(n, self.max_events_per_slice)
        self.overflow += n - keep
        # views, not copies: pending arrays are never written in place (push concatenates into new ones)
        s = Slice(t0, t1, self._idx[:keep], self._t[:keep], self._ev[:keep] if self.keep_events else None)
        self._idx, self._t = self._idx[n:], self._t[n:]
        if self.keep_events:
            self._ev = self._ev[n:]
        self._next_t0 = t1
        return s

    def pop_all(self) -> list[Slice]:
        """Every complete slice, in order (after `finish`: all that is left)."""
        out = []
        while (s := self.pop()) is not None:
            out.append(s)
        return out

    def _floor(self, t: int) -> int:
        return self.origin_us + ((t - self.origin_us) // self.slice_us) * self.slice_us

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        return {"next_t0": np.array([-1 if self._next_t0 is None else self._next_t0, self._next_t0 is not None,
                                     -1 if self._done_until is None else self._done_until,
                                     self._done_until is not None], np.int64),
                "clock": self._clock.copy(), "idx": self._idx.copy(), "t": self._t.copy(), "events": self._ev.copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        keys = {"next_t0", "clock", "idx", "t", "events"}
        if set(state) != keys:
            raise ValueError(f"slicer: state keys {sorted(state)} where {sorted(keys)} are expected")
        head, clock = np.asarray(state["next_t0"]), np.asarray(state["clock"])
        idx, t, ev = np.asarray(state["idx"]), np.asarray(state["t"]), np.asarray(state["events"])
        if head.shape != (4,) or clock.shape != (2,) or idx.shape != t.shape or idx.ndim != 1:
            raise ValueError("slicer: state arrays have the wrong shape")
        if ev.dtype != EVENT_DTYPE or (self.keep_events and ev.shape != t.shape):
            raise ValueError("slicer: state events do not match")
        if idx.size and int(idx.max()) >= self.n_neurons:
            raise ValueError(f"slicer: state holds a neuron index >= {self.n_neurons}")
        self._next_t0 = int(head[0]) if head[1] else None
        self._done_until = int(head[2]) if head[3] else None
        self._clock = clock.astype(np.int64).copy()
        self._idx, self._t, self._ev = idx.astype(np.uint32).copy(), t.astype(np.int64).copy(), ev.copy()
