"""Live event cameras through iniVation's dv-processing: a USB camera it opens (DVXplorer, DAVIS, DVS128) or
the network stream a DV / dv-processing ``NetworkWriter`` serves (DV's "Network TCP server" output, or a
``dv.io.NetworkWriter`` in a script): a source that never blocks the caller.

``dv-processing`` is optional (``pip install 'spikestream[dv]'``), imported when a source is built, so the
package imports without it.

- **Where**: ``address = "host:port"`` reads a network stream (``dv.io.NetworkReader``); otherwise a
  camera, ``camera = "SERIAL"`` (``dv.io.camera.open(serial)``) or the first one found (``discover()``).
- **Events**: dv's batches (``EventStore.numpy()``: timestamp in microseconds, x, y, polarity) become
  `EVENT_DTYPE` rows in the order they arrive, nothing reordered here. A thread drains dv's reader every
  ``drain_ms`` into a queue of at most ``queue_events`` (a fuller queue drops the newest batch, counted as
  ``dropped_events`` and logged at most once a second); `read` takes at most ``max_events`` per call.
  The thread is needed: measured here, a ``NetworkReader`` whose writer has closed the connection gives
  nothing more, also what it had received before (10 000 events streamed, the writer exits 0.2 s later:
  all 10 000 read when reading began 0.1 s after the start, none when it began after 1 s).
- **Connection**: every attempt runs in that thread (a ``NetworkReader`` to a host that does not answer can
  block in ``connect``). The constructor waits up to ``connect_wait_s`` for the first attempt: a stream
  that is not an event stream, or that gives no sensor size, is a ValueError (the node exits 78); a host
  not reachable / a camera not found is one WARNING naming it, then retries with backoff (``retry_s``
  doubling up to ``max_retry_s``; "still not connected after N s" said after 5, 10, 20, ... s). A stream
  that ends (the writer exits, the camera is unplugged: ``isRunning()`` turns false) is drained, logged
  once as lost and reconnected the same way (or, with ``reconnect=False``, ends the source). Silence
  longer than ``stale_s`` on a live connection is one WARNING (a stall) and one INFO when events flow again.
- **Sensor size**: the stream's; a reconnection to a stream with another size is refused (logged, retried),
  since the filters and neuron indices are sized for the first one.

Measured here (2 cores, dv-processing 2.0.4 wheel): ``NetworkReader`` connects to a local writer in 2 ms
and reports the end of the stream 0.4 s after the writer process dies; ``getNextEventBatch`` never blocks;
a bare reader loop takes 2 M events from a local writer in 0.2-0.3 s, and the node (1 ms slices, no filters,
kernels cached) puts them through in 0.67-0.84 s wall (2.4-3.0 Mev/s), 0.12-0.16 s of its process's CPU, the
writer on the same 2 cores (`benchmarks/dv_camera.py`).
A writer process that exits while its reader is behind loses what TCP had not yet taken (seen: 50 000 of
2 M events, the last batches, when the reader was busy compiling kernels): that loss is the writer's.
Camera capture was not tested with hardware (none here): only its errors (no camera found).
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import numpy as np

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.registry import SOURCES

PIP_HINT = "pip install 'spikestream[dv]' (the dv-processing package)"


def dv_processing():
    """The dv_processing module, or a ValueError saying what to install."""
    try:
        import dv_processing as dv
    except ImportError:
        raise ValueError(f"dv_camera needs dv-processing: {PIP_HINT}") from None
    return dv


def _short(e: BaseException) -> str:
    """dv's exceptions carry a C++ location and a stack trace: keep the one line that says what happened."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    said = next((ln.split(": ", 1)[1] for ln in lines if ln.startswith(("RuntimeError: ", "std::"))), None)
    text = said or (lines[0] if lines else type(e).__name__)
    return text.split(" [system:")[0]


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port); ValueError naming the value otherwise."""
    host, sep, port = str(address).strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"dv_camera: address must be 'host:port' (a DV / dv-processing network writer), "
                         f"got {address!r}")
    return host.strip("[]"), int(port)


class _ConfigError(ValueError):
    """The stream is there but cannot be used as configured (not events, no sensor size)."""


def to_events(batch) -> np.ndarray:
    """A dv ``EventStore`` -> `EVENT_DTYPE` rows, same order."""
    d = batch.numpy()
    ev = np.empty(d.shape[0], EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"] = d["timestamp"], d["x"], d["y"]
    ev["p"] = d["polarity"] != 0
    return ev


@SOURCES.register("dv")
class DVEventSource:
    def __init__(self, address: str | None = None, camera: str | None = None, width: int | None = None,
                 height: int | None = None, retry_s: float = 1.0, max_retry_s: float = 30.0, stale_s: float = 2.0,
                 connect_wait_s: float = 3.0, reconnect: bool = True, queue_events: int = 4_000_000,
                 drain_ms: float = 1.0, log: logging.Logger | None = None):
        self.dv = dv_processing()
        self.log = log or logging.getLogger("spikestream.sources.dv_camera")
        if address is not None and camera is not None:
            raise ValueError("dv_camera: give address (a network stream) or camera (a USB camera), not both")
        if not (retry_s > 0 and max_retry_s >= retry_s and stale_s > 0 and connect_wait_s >= 0 and queue_events >= 1
                and drain_ms > 0):
            raise ValueError("dv_camera: retry_s, stale_s, drain_ms must be > 0, max_retry_s >= retry_s, "
                             "connect_wait_s >= 0, queue_events >= 1")
        self.address = parse_address(address) if address is not None else None
        self.camera = camera
        self.where = (f"network stream {self.address[0]}:{self.address[1]}" if self.address
                      else f"camera {camera!r}" if camera else "the first camera found")
        self._size_param = (width, height)
        self.width = self.height = None  # fixed by width and height, or by the first connection
        if width is not None and height is not None:
            self.width, self.height = int(width), int(height)
        self.name = ""
        self.retry_s, self.max_retry_s, self.stale_s = float(retry_s), float(max_retry_s), float(stale_s)
        self.reconnect = bool(reconnect)
        self.queue_events, self.drain_s = int(queue_events), float(drain_ms) / 1000
        self.stats: dict[str, int] = {"connect_attempts": 0, "reconnects": 0, "stalls": 0, "dropped_events": 0}
        self._reader = None  # only the thread uses it
        self._connected = False
        self._lock = threading.Lock()
        self._q: collections.deque[np.ndarray | None] = collections.deque()  # None: a stream ended here
        #: Stream ends `read` has passed (a reader learns here that the events before were a stream's last).
        self.ends = 0
        self._queued = 0
        self._stop = threading.Event()
        self._first: BaseException | None | bool = False  # the first attempt's outcome (False: not yet)
        self._waiting = True
        self._ended = False
        self._said_drop = 0.0
        self._thread = threading.Thread(target=self._run, name="dv-camera", daemon=True)
        self._thread.start()
        t_end = time.monotonic() + connect_wait_s
        while self._first is False and time.monotonic() < t_end:
            self._thread.join(0.01)
        with self._lock:
            self._waiting = False
            first = self._first
        if isinstance(first, _ConfigError):
            self.close()
            raise ValueError(str(first)) from None
        if first is False:
            self.log.info("dv_camera: still connecting to %s after %g s; events follow when it answers", self.where,
                          connect_wait_s)

    # ------------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ended(self) -> bool:
        """The stream ended and ``reconnect`` is off: nothing more will come (once the queue is read)."""
        return self._ended and not self._q

    def _open(self):
        """One attempt: a reader with an event stream of the expected size, or an exception."""
        dv = self.dv
        if self.address is not None:
            reader = dv.io.NetworkReader(*self.address)
        elif self.camera:
            reader = dv.io.camera.open(self.camera)
        else:
            if not dv.io.camera.discover():
                raise RuntimeError("no camera found (dv.io.camera.discover() lists none)")
            reader = dv.io.camera.open()
        if not reader.isEventStreamAvailable():
            has = [k for k in ("Frame", "Imu", "Trigger") if getattr(reader, f"is{k}StreamAvailable")()]
            raise _ConfigError(f"dv_camera: {self.where} serves no event stream ({', '.join(has) or 'nothing'} "
                               "instead); point the node at an event output")
        size = reader.getEventResolution()
        w = self._size_param[0] if self._size_param[0] is not None else (size[0] if size else None)
        h = self._size_param[1] if self._size_param[1] is not None else (size[1] if size else None)
        if not w or not h:
            raise _ConfigError(f"dv_camera: {self.where} gives no sensor size; set width and height")
        if self.width is not None and (int(w), int(h)) != (self.width, self.height):
            raise RuntimeError(f"its sensor is {w} x {h}, not {self.width} x {self.height} as set or first seen; "
                               "refused (the node sizes its filters and neurons once)")
        self.width, self.height = int(w), int(h)
        self.name = str(reader.getCameraName())
        return reader

    def _attempt(self, first: bool, waited: float) -> bool:
        self.stats["connect_attempts"] += 1
        try:
            reader = self._open()
        except _ConfigError as e:
            with self._lock:
                handed = first and self._waiting
                if handed:
                    self._first = e  # the constructor raises it
            if not handed:
                self.log.error("%s; retrying", e)
            return False
        except Exception as e:  # not reachable, not found, refused: a retry may fix it
            if first:
                self.log.warning("dv_camera: %s not available: %s; retrying every %g-%g s", self.where, _short(e),
                                 self.retry_s, self.max_retry_s)
                self._first = e  # after the line: the constructor returns once it is said
            elif waited >= self._say_at:
                self._say_at *= 2
                self.log.warning("dv_camera: %s still not connected after %.0f s (%s); retrying", self.where, waited,
                                 _short(e))
            return False
        self._reader, self._connected = reader, True
        self.log.info("dv_camera: connected to %s (%s, %d x %d)", self.where, self.name or "unnamed", self.width,
                      self.height)
        if first:
            self._first = None
        return True

    def _connect(self, first: bool) -> bool:
        """Attempts with backoff until one succeeds (True) or the source closes (False)."""
        self._say_at, t0, wait = 5.0, time.monotonic(), self.retry_s
        if self._attempt(first, 0.0):
            return True
        while not self._stop.wait(wait):
            if self._attempt(False, time.monotonic() - t0):
                return True
            wait = min(wait * 2, self.max_retry_s)
        return False

    def _run(self) -> None:
        first = True
        while self._connect(first):
            first = False
            self._drain()
            self._reader, self._connected = None, False  # released: dv closes its socket / device
            with self._lock:
                self._q.append(None)
            if self._stop.is_set():
                return
            if not self.reconnect:
                self._ended = True
                self.log.info("dv_camera: %s ended; reconnect is off, so the source ends", self.where)
                return
            self.stats["reconnects"] += 1
            self.log.warning("dv_camera: %s ended (writer gone or camera unplugged); reconnecting every %g-%g s",
                             self.where, self.retry_s, self.max_retry_s)

    def _drain(self) -> None:
        """Move dv's batches to the queue until the stream ends or the source closes."""
        reader, last, stalled = self._reader, time.monotonic(), False
        while not self._stop.is_set():
            batch = reader.getNextEventBatch()
            if batch is None:
                if not reader.isRunning():
                    batch = reader.getNextEventBatch()  # over: what arrived before the end still counts
                    if batch is None:
                        return
                else:
                    now = time.monotonic()
                    if not stalled and now - last > self.stale_s:
                        stalled = True
                        self.stats["stalls"] += 1
                        self.log.warning("dv_camera: no events from %s for %.1f s", self.where, now - last)
                    self._stop.wait(self.drain_s)
                    continue
            ev = to_events(batch)
            last = time.monotonic()
            if stalled:
                stalled = False
                self.log.info("dv_camera: events from %s flow again", self.where)
            with self._lock:
                if self._queued + ev.size > self.queue_events:
                    self.stats["dropped_events"] += int(ev.size)
                    drop = True
                else:
                    self._q.append(ev)
                    self._queued += ev.size
                    drop = False
            if drop and last - self._said_drop > 1.0:
                self._said_drop = last
                self.log.warning("dv_camera: the queue from %s is full (%d events): dropping (%d dropped so far)",
                                 self.where, self.queue_events, self.stats["dropped_events"])

    def wait_connected(self, timeout_s: float) -> bool:
        """For tests and start-up scripts: wait (blocking) until the stream is open."""
        t_end = time.monotonic() + timeout_s
        while not self.connected and time.monotonic() < t_end:
            time.sleep(0.005)
        return self.connected

    # ------------------------------------------------------------------ data
    def read(self, max_events: int) -> np.ndarray:
        """Up to `max_events` events in arrival order (empty when none are there); never blocks."""
        parts, n = [], 0
        with self._lock:
            while self._q and n < max_events:
                ev = self._q.popleft()
                if ev is None:  # the end of a stream: the events after it come from the next one
                    self.ends += 1
                    break
                if ev.size > max_events - n:
                    self._q.appendleft(ev[max_events - n:])
                    ev = ev[:max_events - n]
                parts.append(ev)
                n += ev.size
            self._queued -= n
        if not parts:
            return np.zeros(0, EVENT_DTYPE)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
