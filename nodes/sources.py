"""Source nodes: synthetic generators (and, in their own classes, LSL, serial and file sources).

A paced source never sleeps: `poll(now_ns)` emits every chunk whose last sample is due by ``now_ns``
(the clock starts at the first poll) and `wake_at_ns` names the next due time. Each message's
``origin_ns`` is the wall time its oldest sample was due, i.e. its acquisition time.
"""

from __future__ import annotations

import math

import numpy as np

from spikestream.protocol import Samples
from spikestream.runtime.node import Node, register_node
from spikestream.sources.synthetic import EMGSynth


def _param(params: dict, key: str, default, conv, check=None, text: str = ""):
    v = params.get(key, default)
    try:
        v = conv(v)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {key!r}: cannot use {v!r}") from None
    if check is not None and not check(v):
        raise ValueError(f"parameter {key!r} = {v!r}: {text}")
    return v


class PacedSynthNode(Node):
    """Shared pacing for synthetic sources that can produce any number of rows on demand."""

    outputs = {"samples": "samples", "target": "samples", "gesture": "samples"}
    optional = frozenset({"target", "gesture"})

    def _make_source(self):
        raise NotImplementedError

    def setup(self) -> None:
        p = self.params
        self.chunk = _param(p, "chunk", 10, int, lambda v: v >= 1, "must be >= 1")
        self.pace = _param(p, "pace", "realtime", str, lambda v: v in ("realtime", "fast"), "must be 'realtime' or 'fast'")
        self.max_lag_s = _param(p, "max_lag_s", 0.5, float, lambda v: v > 0, "must be > 0")
        self.fast_msgs = _param(p, "fast_msgs_per_poll", 64, int, lambda v: v >= 1, "must be >= 1")
        dur = p.get("duration_s")
        self.limit = None if dur is None else _param(p, "duration_s", dur, float, lambda v: v > 0, "must be > 0")
        self.truth = _param(p, "truth", True, bool)
        self.src = self._make_source()
        self.rate = float(self.src.rate_hz)
        if self.limit is not None:
            self.limit = int(math.floor(self.limit * self.rate))
        self._start_ns: int | None = None
        self._period_ns = 1e9 / self.rate

    # ------------------------------------------------------------------ runtime callbacks
    def poll(self, now_ns: int) -> None:
        if self.finished:
            return
        if self.pace == "fast":
            for _ in range(self.fast_msgs):
                if not self._emit_chunk(self._take(self.chunk), now_ns):
                    break
            return
        if self._start_ns is None:  # row `position` is due now (0 at start, later after set_state)
            self._start_ns = int(now_ns) - int(round(self.src.position * self._period_ns))
        due = int((now_ns - self._start_ns) // self._period_ns) + 1  # rows due so far
        if self.limit is not None:
            due = min(due, self.limit)
        lag = due - self.src.position
        max_lag = max(self.chunk, int(self.max_lag_s * self.rate))
        if lag > max_lag:  # the loop stalled: drop stale rows, say so, keep the time base
            drop = lag - max_lag
            drop -= drop % self.chunk
            self.src.skip(drop)
            self.count("dropped_samples", drop)
            self.log.warning("%s: loop fell %.3f s behind; dropped %d stale samples", self.name, lag / self.rate, drop)
        while self.src.position + self.chunk <= due:
            k0 = self.src.position
            self._emit_chunk(self._take(self.chunk), self._start_ns + int(round(k0 * self._period_ns)))

    def wake_at_ns(self) -> int | None:
        if self.finished:
            return None
        if self.pace == "fast":
            return 0
        if self._start_ns is None:
            return None
        last = self.src.position + self.chunk - 1
        return self._start_ns + int(math.ceil(last * self._period_ns))

    @property
    def finished(self) -> bool:
        return self.limit is not None and self.src.position >= self.limit

    def get_state(self) -> dict[str, np.ndarray]:
        return self.src.get_state()

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.src.set_state(state)
        self._start_ns = None  # pacing restarts from the restored row

    # ------------------------------------------------------------------ helpers
    def _take(self, n: int):
        if self.limit is not None:
            n = min(n, self.limit - self.src.position)
        return self.src.read(max(n, 0))

    def _emit_chunk(self, c, origin_ns: int) -> bool:
        if c.t_us.size == 0:
            return False
        t_last = int(c.t_us[-1])
        self.emit("samples", Samples(c.t_us, c.data, self.rate, self.src.channels), t_last, origin_ns)
        if self.truth:
            self.emit("target", Samples(c.t_us, c.target, self.rate, self.truth_names), t_last, origin_ns)
            self.emit("gesture", Samples(c.t_us, c.gesture.astype(np.float32)[:, None], self.rate, ["gesture"]),
                      t_last, origin_ns)
        self.count("samples_out", int(c.t_us.size))
        return True


@register_node("emg_synth")
class EMGSynthNode(PacedSynthNode):
    """Synthetic EMG. Params: channels=8, rate_hz=1000, dof=2, seed=0, gestures=4, chunk=10,
    pace="realtime"|"fast", duration_s (optional: finite stream), truth=true, max_lag_s=0.5."""

    def _make_source(self):
        p = self.params
        src = EMGSynth(n_channels=_param(p, "channels", 8, int), rate_hz=_param(p, "rate_hz", 1000.0, float),
                       n_dof=_param(p, "dof", 2, int), seed=_param(p, "seed", 0, int),
                       n_gestures=_param(p, "gestures", 4, int))
        self.truth_names = [f"dof{d}" for d in range(src.n_dof)]
        return src
