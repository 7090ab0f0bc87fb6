"""Per-node statistics: counters, bounded latency windows, and a rate-limited logger."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import numpy as np


class LatencyWindow:
    """The last `size` latencies (seconds) in a ring; percentiles over that window. Bounded memory."""

    def __init__(self, size: int = 8192):
        self._buf = np.zeros(size, np.float64)
        self._n = 0  # total ever added

    def add(self, seconds: float) -> None:
        self._buf[self._n % self._buf.size] = seconds
        self._n += 1

    @property
    def count(self) -> int:
        return self._n

    def summary_ms(self) -> dict[str, float]:
        k = min(self._n, self._buf.size)
        if k == 0:
            return {}
        w = self._buf[:k] * 1e3
        p50, p90, p99 = np.percentile(w, [50, 90, 99])
        return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(w.max()), "n": int(k)}


class NodeStats:
    """What every node reports, whatever its kind."""

    def __init__(self, node: str, kind: str):
        self.node, self.kind = node, kind
        self.started = time.monotonic()
        self.msgs_in: dict[str, int] = defaultdict(int)  # per input port
        self.msgs_out: dict[str, int] = defaultdict(int)  # per output port
        self.rejected = 0  # malformed, wrong kind, out of order
        self.dropped = 0  # sequence gaps seen on inputs (lost upstream) + stale messages dropped here
        self.stale = 0
        self.errors = 0  # exceptions raised by the node's callbacks
        self.send_failed = 0  # frames ZeroMQ would not queue (a full high-water mark)
        self.latency_in = LatencyWindow()  # origin -> received here
        self.latency_out = LatencyWindow()  # origin -> sent from here
        self.loop_lag = LatencyWindow(2048)  # how late a wanted wake-up ran
        self.busy_s = 0.0  # time spent inside node callbacks

    def snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        up = time.monotonic() - self.started
        d = {
            "node": self.node, "kind": self.kind, "uptime_s": round(up, 3),
            "msgs_in": dict(self.msgs_in), "msgs_out": dict(self.msgs_out),
            "rejected": self.rejected, "dropped": self.dropped, "stale": self.stale, "errors": self.errors,
            "send_failed": self.send_failed,
            "latency_in_ms": self.latency_in.summary_ms(), "latency_out_ms": self.latency_out.summary_ms(),
            "loop_lag_ms": self.loop_lag.summary_ms(), "cpu_busy_frac": round(self.busy_s / up, 4) if up > 0 else 0.0,
        }
        if extra:
            d["node_counters"] = extra
        return d


class RateLimitedLog:
    """Log each kind of complaint at most `per_s` times a second; say how many were suppressed."""

    def __init__(self, log: logging.Logger, per_s: float = 1.0):
        self.log, self.period = log, 1.0 / per_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = defaultdict(int)

    def warning(self, key: str, msg: str) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -1e9) >= self.period:
            n = self._suppressed.pop(key, 0)
            self.log.warning("%s%s", msg, f" (+{n} similar suppressed)" if n else "")
            self._last[key] = now
        else:
            self._suppressed[key] += 1
