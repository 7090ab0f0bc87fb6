"""Per-node statistics: counters, latency histograms, and a rate-limited logger."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from typing import Any

import numpy as np


class LatencyHistogram:
    """Latencies in log-spaced bins 1% wide from 1 us to 100 s (as HdrHistogram does): O(1) to add,
    percentiles in O(bins) at the stats interval, bounded memory, and no pause to sort a window."""

    LO_S = 1e-6
    STEP = math.log(1.01)
    BINS = int(math.log(1e8) / STEP) + 2  # index 0 also takes anything below 1 us, the last anything above 100 s

    def __init__(self) -> None:
        self._counts = [0] * self.BINS
        self._n = 0
        self._max = 0.0

    def add(self, seconds: float) -> None:
        i = int(math.log(seconds / self.LO_S) / self.STEP) + 1 if seconds > self.LO_S else 0
        self._counts[i if i < self.BINS else self.BINS - 1] += 1
        self._n += 1
        if seconds > self._max:
            self._max = seconds

    @property
    def count(self) -> int:
        return self._n

    def summary_ms(self) -> dict[str, float]:
        """p50/p90/p99 (the upper edge of the bin holding the rank, so at most 1% high), max, n."""
        if self._n == 0:
            return {}
        cum = np.cumsum(self._counts)
        ranks = np.ceil(np.array([0.5, 0.9, 0.99]) * self._n)
        idx = np.searchsorted(cum, ranks)
        edges = self.LO_S * np.exp(idx * self.STEP) * 1e3
        p50, p90, p99 = (min(float(e), self._max * 1e3) for e in edges)
        return {"p50": p50, "p90": p90, "p99": p99, "max": self._max * 1e3, "n": self._n}


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
        self.seq_jumps = 0  # sequence jumps too large to be losses (a corrupt or forged seq): not in dropped
        self.time_resets = 0  # input streams whose time base restarted or jumped, and was followed
        self.upstream_restarts = 0  # input streams whose sequence began again (the sender restarted)
        self.streams_evicted = 0  # input streams forgotten to keep at most 64 per port
        self.input_reconnects = 0  # input connections lost (an oversize frame, a sender gone) and made again
        self.checkpoints = 0  # state files written
        self.checkpoints_skipped = 0  # not written: the state was empty or emptier than the restored one
        self.state_rejected = 0  # state files (or load_state commands) found unusable; never applied
        self.commands_refused = 0  # control commands without the right token (runtime/auth.py)
        self.errors = 0  # exceptions raised by the node's callbacks
        self.send_failed = 0  # frames ZeroMQ would not queue (a full high-water mark)
        self.backpressure_waits = 0  # lossless flow: sends that waited for room in a full subscriber queue
        self.backpressure_s = 0.0  # ... and the time they waited
        self.latency_in = LatencyHistogram()  # origin -> received here
        self.latency_out = LatencyHistogram()  # origin -> sent from here
        self.loop_lag = LatencyHistogram()  # how late a wanted wake-up ran
        self.busy_s = 0.0  # time spent inside node callbacks

    def snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        up = time.monotonic() - self.started
        d = {
            "node": self.node, "kind": self.kind, "uptime_s": round(up, 3),
            "msgs_in": dict(self.msgs_in), "msgs_out": dict(self.msgs_out),
            "rejected": self.rejected, "dropped": self.dropped, "stale": self.stale, "errors": self.errors,
            "send_failed": self.send_failed, "seq_jumps": self.seq_jumps, "time_resets": self.time_resets,
            "upstream_restarts": self.upstream_restarts, "streams_evicted": self.streams_evicted,
            "input_reconnects": self.input_reconnects, "checkpoints": self.checkpoints,
            "checkpoints_skipped": self.checkpoints_skipped, "state_rejected": self.state_rejected,
            "commands_refused": self.commands_refused,
            "backpressure_waits": self.backpressure_waits, "backpressure_s": round(self.backpressure_s, 3),
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
