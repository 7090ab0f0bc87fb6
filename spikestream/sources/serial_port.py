"""A serial-port source (pyserial): a reader thread parses frames into a bounded queue; `read` never blocks.

Two wire formats, both documented in docs/sources.md:

- ``format="csv"``: ASCII lines ``t_us,v0,v1,...,v{C-1}\\n`` with ``timestamps="device"`` (``t_us`` the
  device's microsecond clock, an integer), or ``v0,...,v{C-1}\\n`` with ``timestamps="counter"``. Blank lines and lines starting ``#`` are
  skipped; a line that does not parse into the right number of fields is counted in ``rejected_frames``.
- ``format="binary"``: frames ``A5 5A | uint32 LE device time (us) | C x float32 LE | uint8 checksum``,
  the checksum being the sum of the time and value bytes mod 256. The 32-bit time wraps every 71.6 min
  and is unwrapped. A bad checksum drops that frame and resynchronises on the next ``A5 5A``.

With ``timestamps="counter"`` (csv only) sample k is at ``round(k * 1e6 / rate_hz)``: dropped lines are
then invisible, which is why devices should send their own time. When the port fails (unplugged), the
thread counts a disconnect, closes it and tries to reopen it every ``reconnect_s``.
"""

from __future__ import annotations

import collections
import logging
import struct
import threading
import time

import numpy as np

from spikestream.registry import SOURCES
from spikestream.sources._base import Chunk, TimeChecker, empty_chunk

SYNC = b"\xa5\x5a"


def binary_frame(t_us: int, values) -> bytes:
    """Encode one binary frame (for devices, tests and tools)."""
    body = struct.pack("<I", int(t_us) & 0xFFFFFFFF) + np.asarray(values, "<f4").tobytes()
    return SYNC + body + bytes([sum(body) & 0xFF])


class FrameParser:
    """Incremental parser: feed bytes, get (t_raw, values, host_ns) rows; counts rejected frames."""

    def __init__(self, fmt: str, n_channels: int, device_time: bool, stats: dict, max_line: int = 4096):
        self.fmt, self.c, self.device_time, self.stats = fmt, n_channels, device_time, stats
        self.buf = bytearray()
        self.max_line = max_line
        self.frame_len = 2 + 4 + 4 * n_channels + 1

    def feed(self, data: bytes, host_ns: int) -> list[tuple[int, np.ndarray, int]]:
        self.buf += data
        return self._lines(host_ns) if self.fmt == "csv" else self._frames(host_ns)

    def _lines(self, host_ns):
        rows = []
        while True:
            end = self.buf.find(b"\n")
            if end < 0:
                if len(self.buf) > self.max_line:  # a line without end: garbage
                    self.stats["rejected_frames"] += 1
                    self.buf.clear()
                return rows
            line = bytes(self.buf[:end]).strip()
            del self.buf[: end + 1]
            if not line or line.startswith(b"#"):
                continue
            parts = line.split(b",")
            want = self.c + (1 if self.device_time else 0)
            try:
                if len(parts) != want:
                    raise ValueError
                t_raw = int(parts[0]) if self.device_time else 0
                vals = np.array([float(p) for p in parts[want - self.c:]], np.float32)
            except ValueError:
                self.stats["rejected_frames"] += 1
                continue
            rows.append((t_raw, vals, host_ns))

    def _frames(self, host_ns):
        rows = []
        n = self.frame_len
        while True:
            start = self.buf.find(SYNC)
            if start < 0:
                del self.buf[: max(0, len(self.buf) - 1)]
                return rows
            if start:
                del self.buf[:start]
            if len(self.buf) < n:
                return rows
            body = bytes(self.buf[2 : n - 1])
            if (sum(body) & 0xFF) != self.buf[n - 1]:
                self.stats["rejected_frames"] += 1
                del self.buf[:2]  # resync after this false start
                continue
            t_raw = struct.unpack_from("<I", body)[0]
            rows.append((t_raw, np.frombuffer(body, "<f4", offset=4).copy(), host_ns))
            del self.buf[:n]


@SOURCES.register("serial")
class SerialSource:
    def __init__(self, port: str, channels: int, rate_hz: float = 0.0, baudrate: int = 115200, format: str = "csv",
                 timestamps: str = "device", queue_rows: int = 100_000, reconnect_s: float = 0.5,
                 log: logging.Logger | None = None):
        if int(channels) < 1:
            raise ValueError(f"serial: channels must be >= 1, got {channels}")
        if format not in ("csv", "binary"):
            raise ValueError(f"serial: format must be 'csv' or 'binary', got {format!r}")
        if timestamps not in ("device", "counter"):
            raise ValueError(f"serial: timestamps must be 'device' or 'counter', got {timestamps!r}")
        if format == "binary" and timestamps != "device":
            raise ValueError("serial: binary frames always carry the device time (timestamps='device')")
        if timestamps == "counter" and not rate_hz > 0:
            raise ValueError("serial: timestamps='counter' needs rate_hz > 0")
        if int(queue_rows) < 1 or not reconnect_s > 0:
            raise ValueError("serial: queue_rows must be >= 1 and reconnect_s > 0")
        import serial  # pyserial

        self._serial = serial
        self.port, self.baudrate = port, int(baudrate)
        self.n_channels, self.rate_hz = int(channels), float(rate_hz)
        self.channels = [f"ch{i}" for i in range(self.n_channels)]
        self.device_time = timestamps == "device"
        self.log = log or logging.getLogger("spikestream.sources.serial")
        self.stats: dict[str, int] = {"rejected_frames": 0, "dropped_queue": 0, "disconnects": 0, "opens": 0}
        self._parser = FrameParser(format, self.n_channels, self.device_time, self.stats)
        self._q: collections.deque = collections.deque(maxlen=int(queue_rows))
        self._lock = threading.Lock()
        self._check = TimeChecker(self.rate_hz, self.stats, self.log, f"serial {port}")
        self._k = 0  # counter time base
        self._wrap = 0  # unwrapping the 32-bit device time
        self._last_raw = None
        self.reconnect_s = float(reconnect_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"serial-{port}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ser = None
        while not self._stop.is_set():
            if ser is None:
                try:
                    ser = self._serial.Serial(self.port, self.baudrate, timeout=0.05)
                    self.stats["opens"] += 1
                    self._parser.buf.clear()
                except (OSError, self._serial.SerialException) as e:
                    self.log.debug("serial: cannot open %s: %s", self.port, e)
                    self._stop.wait(self.reconnect_s)
                    continue
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (OSError, self._serial.SerialException) as e:
                self.stats["disconnects"] += 1
                self.log.warning("serial: %s failed (%s); reopening every %.1f s", self.port, e, self.reconnect_s)
                try:
                    ser.close()
                except Exception:
                    pass
                ser = None
                continue
            if data:
                rows = self._parser.feed(data, time.time_ns())
                if rows:
                    with self._lock:
                        over = len(self._q) + len(rows) - self._q.maxlen
                        if over > 0:
                            self.stats["dropped_queue"] += over
                        self._q.extend(rows)
        if ser is not None:
            ser.close()

    def read(self, max_samples: int = 4096) -> Chunk:
        with self._lock:
            n = min(int(max_samples), len(self._q))
            rows = [self._q.popleft() for _ in range(n)]
        if not rows:
            return empty_chunk(self.n_channels)
        data = np.stack([r[1] for r in rows])
        if self.device_time:
            raw = np.array([r[0] for r in rows], np.int64)
            t_us = self._unwrap(raw)
        else:
            t_us = np.round((self._k + np.arange(n)) * (1e6 / self.rate_hz)).astype(np.int64)
            self._k += n
        host = np.array([r[2] for r in rows], np.int64)
        keep_t, keep_d = self._check.admit(t_us, data)
        if keep_t.size == 0:
            return empty_chunk(self.n_channels)
        return Chunk(keep_t, keep_d, int(host.min()))  # origin: when the oldest row reached the host

    def _unwrap(self, raw: np.ndarray) -> np.ndarray:
        """Unwrap the 32-bit microsecond device clock (a backwards step of more than half the range is a wrap)."""
        prev = np.concatenate(([raw[0] if self._last_raw is None else self._last_raw], raw[:-1]))
        wraps = np.cumsum((prev - raw) > (1 << 31))
        out = raw + (self._wrap + wraps) * (1 << 32)
        self._wrap += int(wraps[-1])
        self._last_raw = int(raw[-1])
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
