"""Replay pacing: when a recorded (or synthetic) time is due on the wall clock, for every replaying source.

A replay runs at the recorded pace times ``speed``: after `Pacer.anchor(now_ns, t_us)` (source time
``t_us`` is due now), time ``t`` is due ``ceil((t - t_us) * 1000 / speed)`` ns later, so nothing goes out
before it is due. ``speed = 0`` is "as fast as possible" (`Pacer.fast`: nothing is anchored, the loop is
woken at once). Something more than ``max_lag_s`` overdue (a stalled loop) is stale: a source drops it and
counts it (``None``: never drop, for a recording that must play whole).

The nodes' parameters are two spellings of the same thing:

| samples sources (`emg_synth`, `file_source`, ...) | event sources (`event_camera`, `frames_to_events`) |
|---|---|
| ``pace = "fast"`` (or ``speed = 0`` / ``"fast"``) | ``speed = 0`` or ``"fast"`` (or ``pace = "fast"``) |
| ``max_lag_s`` none (recordings: never drop), 0.5 s (synthetic): rows | ``max_lag_s = 1.0``: whole slices |

A node owns the granularity (rows, slices); the clock arithmetic is here, usable without the runtime::

    p = Pacer(speed=2.0)
    p.anchor(time.time_ns(), t_us[0])
    wait_until(p.due_ns(t_us[k]))  # row k at twice the recorded pace
"""

from __future__ import annotations

import math

from spikestream.params import Param

__all__ = ["Pacer", "SPEED", "PACE", "pacing_speed"]


def _fast_is_zero(v: float | str) -> float:
    if isinstance(v, str):
        if v != "fast":
            raise ValueError(f"must be a number >= 0 or 'fast', got {v!r}")
        return 0.0
    return v


#: The replay speed of every replaying node: times the recorded pace; 0 or "fast": as fast as possible.
SPEED = Param("speed", (float, str), 1.0, lo=0, check=_fast_is_zero, expect="a number >= 0 or 'fast'",
              doc='replay speed (times the recorded pace); 0 or "fast": as fast as possible')
#: The same choice by name: pace = "fast" is speed = 0.
PACE = Param("pace", str, "realtime", choices=("realtime", "fast"),
             doc='"realtime": at the recorded pace (times `speed`); "fast": as fast as the pipeline takes it (= speed 0)')


def pacing_speed(params: dict) -> float:
    """The speed a node's validated ``pace`` and ``speed`` keys mean (0: as fast as possible)."""
    return 0.0 if params.get("pace") == "fast" else float(params.get("speed", 1.0))


class Pacer:
    """Source time (int us) -> the wall time (int ns) it is due, at `speed` times the recorded pace."""

    def __init__(self, speed: float = 1.0, max_lag_s: float | None = None):
        if max_lag_s is not None and not max_lag_s > 0:
            raise ValueError(f"Pacer: max_lag_s must be > 0 or None, got {max_lag_s!r}")
        self.max_lag_s = max_lag_s
        self.max_lag_ns = math.inf if max_lag_s is None else max_lag_s * 1e9
        self.set_speed(speed)

    def set_speed(self, speed: float) -> None:
        """A new speed (0: as fast as possible); the next `anchor` starts its time base."""
        if not (isinstance(speed, (int, float)) and speed >= 0 and math.isfinite(speed)):
            raise ValueError(f"Pacer: speed must be a finite number >= 0, got {speed!r}")
        self.speed = float(speed)
        self.reset()

    @property
    def fast(self) -> bool:
        return self.speed == 0

    @property
    def anchored(self) -> bool:
        return self._wall0 is not None

    def reset(self) -> None:
        """Forget the anchor (after a restore or a speed change: the next poll anchors again)."""
        self._wall0: int | None = None
        self._src0 = 0

    def anchor(self, now_ns: int, t_us: int, t0_us: int | None = None) -> None:
        """Source time `t_us` is due at `now_ns`. With `t0_us` (at or before `t_us`) due times are measured
        from that base, so they round the same whichever row the anchor fell on."""
        if self.fast:
            raise ValueError("Pacer: a fast replay (speed 0) has no due times")
        self._src0 = int(t_us if t0_us is None else t0_us)
        self._wall0 = int(now_ns) - self._after(int(t_us) - self._src0)

    def _after(self, d_us: int) -> int:
        return int(math.ceil(d_us * 1000 / self.speed))

    def due_ns(self, t_us: int) -> int:
        """The wall time source time `t_us` is due (never before it)."""
        return self._wall0 + self._after(int(t_us) - self._src0)

    def source_us(self, now_ns: int) -> int:
        """The source time due by `now_ns`."""
        return self._src0 + int((int(now_ns) - self._wall0) * self.speed / 1000)

    def overdue(self, due_ns: int, now_ns: int) -> bool:
        """More than `max_lag_s` late: stale, to be dropped."""
        return now_ns - due_ns > self.max_lag_ns

    def rows_to_drop(self, lag_rows: int, rate_hz: float, chunk: int) -> int:
        """Rows a source `lag_rows` behind drops: all but `max_lag_s` of them (at least one chunk kept),
        whole chunks only, so the chunks keep their boundaries; 0 with ``max_lag_s = None``."""
        if self.max_lag_s is None:
            return 0
        keep = max(chunk, int(self.max_lag_s * rate_hz))
        if lag_rows <= keep:
            return 0
        drop = lag_rows - keep
        return drop - drop % chunk
