"""A Lab Streaming Layer inlet that never blocks the caller.

A background thread resolves the stream (by ``name``, ``type`` and/or ``source_id``) and opens the inlet;
until then `read` returns nothing. Reads are ``pull_chunk(timeout=0)`` into a preallocated buffer.
Timestamps: LSL seconds on the local ``local_clock()`` (``clocksync`` applies liblsl's clock-offset
correction, ``dejitter`` its regression smoothing) become ``t_us = round(ts * 1e6)``; ``origin_ns`` maps the
oldest row's timestamp onto ``time.time_ns()``. liblsl reconnects a lost stream by itself
(``recover=True``); silence longer than ``stale_s`` is counted as a stall and logged, and the gap in the
timestamps when the stream comes back is counted by `TimeChecker`.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from spikestream.registry import SOURCES
from spikestream.sources._base import Chunk, TimeChecker, empty_chunk


@SOURCES.register("lsl")
class LSLSource:
    def __init__(self, name: str | None = None, type: str | None = None, source_id: str | None = None,
                 channels: int | None = None, max_samples: int = 4096, buffer_s: int = 10, stale_s: float = 1.0,
                 clocksync: bool = True, dejitter: bool = False, resolve_timeout_s: float = 1.0,
                 log: logging.Logger | None = None):
        if not (name or type or source_id):
            raise ValueError("lsl: give at least one of name, type, source_id to find the stream")
        if channels is not None and int(channels) < 1:
            raise ValueError(f"lsl: channels must be >= 1, got {channels}")
        if int(max_samples) < 1 or int(buffer_s) < 1 or not stale_s > 0:
            raise ValueError("lsl: max_samples and buffer_s must be >= 1, stale_s > 0")
        import pylsl  # a runtime dependency, imported here so that the package imports without liblsl

        self._pylsl = pylsl
        self.query = {k: v for k, v in (("name", name), ("type", type), ("source_id", source_id)) if v}
        self.expect_channels = None if channels is None else int(channels)
        self.max_samples = int(max_samples)
        self.buffer_s = int(buffer_s)
        self.stale_s = float(stale_s)
        self.flags = (pylsl.proc_clocksync if clocksync else 0) | (pylsl.proc_dejitter if dejitter else 0)
        self.resolve_timeout_s = float(resolve_timeout_s)
        self.log = log or logging.getLogger("spikestream.sources.lsl")
        self.stats: dict[str, int] = {"stalls": 0, "resolve_attempts": 0, "rejected_streams": 0}
        self.n_channels = self.expect_channels or 0
        self.rate_hz = 0.0
        self.channels: list[str] = []
        self._inlet = None
        self._buf = None
        self._check: TimeChecker | None = None
        self._stop = threading.Event()
        self._last_data = time.monotonic()
        self._stalled = False
        self._clock_offset_ns = time.time_ns() - int(pylsl.local_clock() * 1e9)
        self._thread = threading.Thread(target=self._connect, name="lsl-resolve", daemon=True)
        self._thread.start()

    @property
    def connected(self) -> bool:
        return self._inlet is not None

    def _predicate(self) -> str:
        return " and ".join(f"{k}='{v}'" for k, v in self.query.items())

    def _connect(self) -> None:
        pylsl = self._pylsl
        t0, say_at = time.monotonic(), 5.0
        while not self._stop.is_set():
            self.stats["resolve_attempts"] += 1
            found = pylsl.resolve_bypred(self._predicate(), 1, self.resolve_timeout_s)
            if not found:
                waited = time.monotonic() - t0
                if waited >= say_at:  # after 5 s, 10, 20, 40 ...: a stream that is not there is said, not hidden
                    say_at *= 2
                    self.log.warning("lsl: no stream matching %s after %.0f s; still looking", self._predicate(), waited)
                continue
            info = found[0]
            c = info.channel_count()
            if self.expect_channels is not None and c != self.expect_channels:
                self.stats["rejected_streams"] += 1
                self.log.error("lsl: stream %r has %d channels, %d expected; still looking", info.name(), c, self.expect_channels)
                self._stop.wait(self.resolve_timeout_s)
                continue
            inlet = pylsl.StreamInlet(info, max_buflen=self.buffer_s, recover=True, processing_flags=self.flags)
            try:
                inlet.open_stream(timeout=max(self.resolve_timeout_s, 1.0))
            except Exception as e:  # timeout or lost: try again
                self.log.warning("lsl: could not open %r: %s", info.name(), e)
                continue
            self.n_channels, self.rate_hz = c, float(info.nominal_srate())
            self.channels = _channel_labels(inlet, c)
            self._buf = np.empty((self.max_samples, c), np.float32)
            self._check = TimeChecker(self.rate_hz, self.stats, self.log, f"lsl {info.name()}")
            self._last_data = time.monotonic()
            self._inlet = inlet  # publish last: read() starts using it now
            self.log.info("lsl: connected to %r (%d ch, %g Hz)", info.name(), c, self.rate_hz)
            return

    def wait_connected(self, timeout_s: float) -> bool:
        """For tests and start-up scripts: wait (blocking) until the inlet is open."""
        self._thread.join(timeout_s)
        return self.connected

    def read(self, max_samples: int | None = None) -> Chunk:
        inlet = self._inlet
        if inlet is None:
            return empty_chunk(self.n_channels)
        n = self.max_samples if max_samples is None else min(int(max_samples), self.max_samples)
        try:
            _, ts = inlet.pull_chunk(timeout=0.0, max_samples=n, dest_obj=self._buf[:n], as_numpy=False)
        except self._pylsl.LostError:  # only without recover; kept for safety
            self.stats["stalls"] += 1
            return empty_chunk(self.n_channels)
        now = time.monotonic()
        if not ts:
            if not self._stalled and now - self._last_data > self.stale_s:
                self._stalled = True
                self.stats["stalls"] += 1
                self.log.warning("lsl: no data for %.1f s; waiting for the stream to come back", now - self._last_data)
            return empty_chunk(self.n_channels)
        if self._stalled:
            self._stalled = False
            self.log.info("lsl: data flows again")
        self._last_data = now
        ts = np.asarray(ts, np.float64)
        t_us = np.round(ts * 1e6).astype(np.int64)
        data = self._buf[: ts.size].copy()
        t_us, data = self._check.admit(t_us, data)
        if t_us.size == 0:
            return empty_chunk(self.n_channels)
        return Chunk(t_us, data, self._clock_offset_ns + int(t_us[0]) * 1000)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.resolve_timeout_s + 2)
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None


def _channel_labels(inlet, c: int) -> list[str]:
    try:
        ch = inlet.info(timeout=1.0).desc().child("channels").child("channel")
        names = []
        for _ in range(c):
            names.append(ch.child_value("label"))
            ch = ch.next_sibling()
        if all(names) and len(set(names)) == c:
            return names
    except Exception:  # labels are a nicety; a stream without them is fine
        pass
    return [f"ch{i}" for i in range(c)]
