"""Streaming machinery shared by the event-file readers and writers.

A reader hands out bounded chunks of `EVENT_DTYPE` events. Word formats (EVT 2.0/2.1/3.0, DAT,
AEDAT 2.0) subclass `WordReader`: it reads fixed-size byte blocks, keeps a word split across a block
boundary for the next block, and calls a jitted kernel that carries the decoder state (time high, y,
vector base...) across calls in a small int64 array. Packet formats (AEDAT 3.1/4) subclass
`PacketReader` and return one decoded packet at a time.
"""

from __future__ import annotations

import os
from typing import BinaryIO, ClassVar

import numpy as np

from spikestream.events.dtype import EVENT_DTYPE

#: External trigger side channel: t in microseconds (same origin as the events), channel id, edge value.
TRIGGER_DTYPE = np.dtype([("t", "<i8"), ("id", "u1"), ("value", "u1")])

DEFAULT_CHUNK_EVENTS = 1 << 18
#: word kernels find the time offset to add (from a `% t0` header) in this slot of their state array
T0_SLOT = 15
DEFAULT_BLOCK_BYTES = 1 << 20
MAX_KEPT_TRIGGERS = 1 << 20


class EventFormatError(ValueError):
    """A file is not in the format claimed, or is damaged beyond a clean partial read."""


def _empty_events(n: int = 0) -> np.ndarray:
    return np.empty(n, EVENT_DTYPE)


def _grow(a: np.ndarray, n: int) -> np.ndarray:
    b = np.empty(n, EVENT_DTYPE)
    _copy_events(b, 0, a, 0, len(a))
    return b


def _copy_events(dst: np.ndarray, i: int, src: np.ndarray, j: int, n: int) -> None:
    """dst[i:i+n] = src[j:j+n] as one memcpy (numpy copies a packed structured dtype field by field)."""
    k = EVENT_DTYPE.itemsize
    dst.view(np.uint8)[i * k:(i + n) * k] = src.view(np.uint8)[j * k:(j + n) * k]


class ClosesOnExit:
    """`with` support for anything with a ``close()``: the block returns it and closes it at the end."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventReader(ClosesOnExit):
    """Base class: ``read(max_events)`` returns at most that many events; an empty array at the end.

    Attributes every reader sets: ``format`` (registry name), ``width``/``height`` (None when the file
    does not say), ``size`` (bytes in the file) and ``position`` (bytes consumed so far, for progress).
    ``stats`` counts what was skipped (protocol violations, unknown words, truncated tails).
    """

    format: ClassVar[str] = ""
    counter_names: ClassVar[tuple[str, ...]] = ()
    _t0_in_kernel: ClassVar[bool] = False

    def __init__(self, path: str | os.PathLike, chunk_events: int = DEFAULT_CHUNK_EVENTS):
        if int(chunk_events) < 1:
            raise ValueError(f"chunk_events must be >= 1, got {chunk_events}")
        self.path = os.fspath(path)
        self.chunk_events = int(chunk_events)
        self.width: int | None = None
        self.height: int | None = None
        self.t0_us = 0  # offset added to decoded times (from a `% t0` header), else 0
        self.size = os.path.getsize(self.path)
        self._f: BinaryIO = open(self.path, "rb")
        self._counters = np.zeros(max(len(self.counter_names), 1), np.int64)
        self._extra_stats: dict[str, int] = {}
        self._trig: list[np.ndarray] = []
        self._n_trig = 0
        self._closed = False
        self._pend = _empty_events()
        self._pend_pos = 0

    # ------------------------------------------------------------------ public API
    @property
    def position(self) -> int:
        return 0 if self._closed else self._f.tell()

    @property
    def stats(self) -> dict[str, int]:
        d = {name: int(self._counters[i]) for i, name in enumerate(self.counter_names)}
        d.update(self._extra_stats)
        return d

    def read(self, max_events: int | None = None) -> np.ndarray:
        """Up to `max_events` (default `chunk_events`) events, in file order; empty at the end."""
        if self._closed:
            raise ValueError("read from a closed event reader")
        n = self.chunk_events if max_events is None else int(max_events)
        if n <= 0:
            return _empty_events()
        out = np.empty(min(n, max(self.chunk_events, 1024)), EVENT_DTYPE)
        got = 0
        while got < n:
            if got == len(out):  # the caller asked for more than chunk_events: grow geometrically
                out = _grow(out, min(n, 2 * len(out)))
            avail = len(self._pend) - self._pend_pos
            if avail > 0:
                # the pending buffer is reused by the next decode: always copy out of it
                take = min(avail, len(out) - got)
                _copy_events(out, got, self._pend, self._pend_pos, take)
                self._pend_pos += take
                got += take
                continue
            k = self._decode_into(out, got)
            if k < 0:
                break
            got += k
        if got < len(out) // 2:
            small = np.empty(got, EVENT_DTYPE)
            _copy_events(small, 0, out, 0, got)
            out = small
        else:
            out = out[:got]
        if self.t0_us and not self._t0_in_kernel:
            out["t"] += self.t0_us
        return out

    def __iter__(self):
        while True:
            ev = self.read()
            if len(ev) == 0:
                return
            yield ev

    def pop_triggers(self) -> np.ndarray:
        """External triggers decoded so far (TRIGGER_DTYPE), removed from the reader."""
        out = np.concatenate(self._trig) if self._trig else np.empty(0, TRIGGER_DTYPE)
        self._trig.clear()
        self._n_trig = 0
        if self.t0_us and len(out) and not self._t0_in_kernel:
            out["t"] += self.t0_us
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._f.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self.width}x{self.height}>"

    # ------------------------------------------------------------------ for subclasses
    def _decode_into(self, out: np.ndarray, got: int) -> int:
        """Decode events straight into out[got:] and return how many, or fill the pending buffer and return
        0; -1 at the end of the file. The default goes through `_next_events`."""
        pend = self._next_events()
        if pend is None:
            return -1
        self._pend, self._pend_pos = pend, 0
        return 0

    def _next_events(self) -> np.ndarray | None:
        """Decode some more events (possibly none); None at the end of the file."""
        raise NotImplementedError

    def _keep_triggers(self, trig: np.ndarray) -> None:
        if len(trig) == 0:
            return
        room = MAX_KEPT_TRIGGERS - self._n_trig
        if room < len(trig):
            self._extra_stats["triggers_dropped"] = self._extra_stats.get("triggers_dropped", 0) + len(
                trig) - max(room, 0)
            trig = trig[:max(room, 0)]
        if len(trig):
            self._trig.append(trig.copy())
            self._n_trig += len(trig)

    def _count(self, name: str, k: int = 1) -> None:
        self._extra_stats[name] = self._extra_stats.get(name, 0) + int(k)

    def _fail(self, msg: str):
        self.close()
        raise EventFormatError(f"{self.path}: {msg}")


class WordReader(EventReader):
    """Reader for a stream of fixed-size little- or big-endian words after a header.

    Subclasses set ``word_dtype`` (e.g. ``np.dtype('<u2')``), ``max_events_per_word``, ``n_state`` and
    implement ``_kernel(words, state, x, y, t, p, tt, tid, tv, counters) -> (n_words, n_ev, n_trig)``,
    which must stop before a word when fewer than ``max_events_per_word`` output slots remain, and
    ``_open_header()`` which parses the header, sets width/height and returns the data offset.
    """

    word_dtype: ClassVar[np.dtype] = np.dtype("<u4")
    max_events_per_word: ClassVar[int] = 1
    n_state: ClassVar[int] = 16  # slot T0_SLOT holds t0_us
    _t0_in_kernel = True

    def __init__(self, path, chunk_events: int = DEFAULT_CHUNK_EVENTS,
                 block_bytes: int = DEFAULT_BLOCK_BYTES):
        super().__init__(path, chunk_events)
        try:
            wb = self.word_dtype.itemsize
            if int(block_bytes) < 1:
                raise ValueError(f"block_bytes must be >= 1, got {block_bytes}")
            self._block = int(block_bytes)  # need not be a multiple of the word size: split words carry over
            self._state = np.zeros(self.n_state, np.int64)
            offset = self._open_header()
            self._state[T0_SLOT] = self.t0_us
            self._f.seek(offset)
            self._buf = np.empty(self._block + wb, np.uint8)
            self._nbuf = 0  # valid bytes in _buf
            self._wpos = 0  # next unconsumed word in _buf
            self._eof = False
            cap = max(self.chunk_events, 4 * self.max_events_per_word)
            self._out = np.empty(cap, EVENT_DTYPE)
            self._tbuf = np.empty(self._block // wb + 2, TRIGGER_DTYPE)  # one trigger per word at most
        except BaseException:
            self.close()
            raise

    def _open_header(self) -> int:
        raise NotImplementedError

    def _kernel(self, words, state, x, y, t, p, tt, tid, tv, counters):
        raise NotImplementedError

    def _fill(self) -> bool:
        """Refill the byte buffer, keeping a partial trailing word. False at the end of the file."""
        wb = self.word_dtype.itemsize
        used = self._wpos * wb
        rest = self._nbuf - used
        if rest:
            self._buf[:rest] = self._buf[used:self._nbuf]
        got = self._f.readinto(memoryview(self._buf)[rest:rest + self._block])
        self._nbuf = rest + (got or 0)
        self._wpos = 0
        if not got:
            self._eof = True
            if rest:
                self._count("truncated_tail_bytes", rest)
                self._nbuf = 0
            return False
        return True

    def _words(self):
        """The unconsumed whole words of the buffer (refilled when empty); None at the end of the file."""
        wb = self.word_dtype.itemsize
        while True:
            nwords = self._nbuf // wb
            if self._wpos < nwords:
                return self._buf[:nwords * wb].view(self.word_dtype)[self._wpos:]
            if self._eof or not self._fill():
                return None

    def _run_kernel(self, words, o) -> int:
        tb = self._tbuf
        nw, ne, nt = self._kernel(words, self._state, o["x"], o["y"], o["t"], o["p"], tb["t"], tb["id"],
                                  tb["value"], self._counters)
        if nw == 0:  # a kernel must always make progress: never spin
            raise RuntimeError(f"{type(self).__name__}: decoder made no progress")
        self._wpos += nw
        if nt:
            self._keep_triggers(tb[:nt])
        return ne

    def _decode_into(self, out: np.ndarray, got: int) -> int:
        if len(out) - got < 4 * self.max_events_per_word:
            return super()._decode_into(out, got)  # too little room: decode into the pending buffer
        words = self._words()
        if words is None:
            return -1
        return self._run_kernel(words, out[got:])

    def _next_events(self) -> np.ndarray | None:
        words = self._words()
        if words is None:
            return None
        return self._out[:self._run_kernel(words, self._out)]


class PacketReader(EventReader):
    """Reader whose subclass decodes one packet at a time: ``_next_packet() -> events | None``."""

    def _next_events(self) -> np.ndarray | None:
        return self._next_packet()

    def _next_packet(self) -> np.ndarray | None:
        raise NotImplementedError


class EventWriter(ClosesOnExit):
    """Base class: ``write(events)`` appends EVENT_DTYPE events (time non-decreasing); ``close()``."""

    format: ClassVar[str] = ""

    def __init__(self, path: str | os.PathLike, width: int | None = None, height: int | None = None):
        self.path = os.fspath(path)
        self.width = None if width is None else int(width)
        self.height = None if height is None else int(height)
        for name, v in (("width", self.width), ("height", self.height)):
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be positive, got {v}")
        self.n_written = 0
        self._last_t: int | None = None
        self._closed = False
        self._f: BinaryIO = open(self.path, "wb")

    def _check(self, ev: np.ndarray, max_xy: int | None = None) -> np.ndarray:
        if self._closed:
            raise ValueError("write to a closed event writer")
        ev = np.asarray(ev)
        if ev.dtype != EVENT_DTYPE:
            names = set(ev.dtype.names or ())
            pol = "p" if "p" in names else "on"  # faery's arrays call polarity `on`
            if not {"x", "y", "t", pol} <= names:
                raise ValueError(f"events need fields x, y, t, p (or on); got dtype {ev.dtype}")
            conv = np.empty(ev.shape, EVENT_DTYPE)
            for f in ("x", "y", "t"):
                conv[f] = ev[f]
            conv["p"] = ev[pol]
            ev = conv
        if ev.ndim != 1:
            raise ValueError(f"events must be 1-D, got shape {ev.shape}")
        if len(ev) == 0:
            return ev
        t = ev["t"]
        if t[0] < 0:
            raise ValueError("event times must be >= 0")
        if (self._last_t is not None and t[0] < self._last_t) or np.any(t[1:] < t[:-1]):
            raise ValueError("event times must be non-decreasing (within and across writes)")
        if self.width is not None and ev["x"].max() >= self.width:
            raise ValueError(f"x={int(ev['x'].max())} outside width {self.width}")
        if self.height is not None and ev["y"].max() >= self.height:
            raise ValueError(f"y={int(ev['y'].max())} outside height {self.height}")
        if max_xy is not None and max(int(ev["x"].max()), int(ev["y"].max())) > max_xy:
            raise ValueError(f"{self.format} stores x and y up to {max_xy}")
        if np.any(ev["p"] > 1):
            raise ValueError("polarity must be 0 or 1")
        return ev

    def write(self, ev: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Write any trailer (called once by close)."""

    def close(self) -> None:
        if not self._closed:
            try:
                self._finish()
            finally:
                self._closed = True
                self._f.close()


class RelativeTimeWriter(EventWriter):
    """Writer for formats that store times relative to the first event and keep that origin (t0) in a
    header written before the first events (with t0 = 0 when no event comes).

    Subclasses set ``max_xy`` and implement ``_header(t0)`` and ``_encode(ev, t)``, which writes the
    checked, non-empty events `ev` whose times relative to t0 are `t`.
    """

    max_xy: ClassVar[int | None] = None

    def __init__(self, path: str | os.PathLike, width: int | None = None, height: int | None = None):
        super().__init__(path, width, height)
        self._t0: int | None = None

    def _header(self, t0: int) -> None:
        raise NotImplementedError

    def _encode(self, ev: np.ndarray, t: np.ndarray) -> None:
        raise NotImplementedError

    def write(self, ev: np.ndarray) -> None:
        ev = self._check(ev, max_xy=self.max_xy)
        if len(ev) == 0:
            return
        if self._t0 is None:
            self._t0 = int(ev["t"][0])
            self._header(self._t0)
        self._encode(ev, ev["t"] - self._t0)
        self.n_written += len(ev)
        self._last_t = int(ev["t"][-1])

    def _finish(self) -> None:
        if self._t0 is None:
            self._header(0)
