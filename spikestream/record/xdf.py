"""XDF (the Lab Streaming Layer's recording format, what LabRecorder writes and `pyxdf` reads), written
and read here with the standard library and numpy only: recording must not add a runtime dependency.

Layout (https://github.com/sccn/xdf/wiki/Specifications): the magic ``XDF:``, then chunks. A chunk is
``[NumLengthBytes u8: 1, 4 or 8][Length: uint of that many bytes][Tag u16][Content]``, all little-endian,
Length counting Tag + Content. Tags: 1 FileHeader (XML), 2 StreamHeader (u32 stream id + XML), 3 Samples
(u32 stream id, a varlen sample count, then per sample ``[TimeStampBytes u8: 0 or 8][f64 seconds]`` and the
channel values in ``channel_format``), 4 ClockOffset (u32 id, f64 collection time, f64 offset), 5 Boundary
(a fixed 16-byte UUID readers resynchronise on), 6 StreamFooter (u32 id + XML).

Why the writer buffers whole chunks and writes them unbuffered (`flush`): the file then always ends on a
chunk boundary, so a recorder killed at any moment leaves a file every reader opens, up to the last flush.
The reader stops quietly at a truncated tail chunk for the same reason.
"""

from __future__ import annotations

import os
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"XDF:"
BOUNDARY = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4])
FILE_HEADER, STREAM_HEADER, SAMPLES, CLOCK_OFFSET, BOUNDARY_TAG, STREAM_FOOTER = 1, 2, 3, 4, 5, 6
#: LSL channel formats -> little-endian numpy dtypes ("string" is read as text, never written here).
FORMATS = {"float32": "<f4", "double64": "<f8", "int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8"}


def varlen(n: int) -> bytes:
    """XDF's variable-length unsigned integer: a byte saying 1, 4 or 8, then the value."""
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 1 << 32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def chunk(tag: int, content: bytes) -> bytes:
    return varlen(len(content) + 2) + struct.pack("<H", tag) + content


def xml_bytes(root: ET.Element) -> bytes:
    return b'<?xml version="1.0"?>' + ET.tostring(root, encoding="utf-8")


def add(parent: ET.Element, tag: str, text=None) -> ET.Element:
    e = ET.SubElement(parent, tag)
    if text is not None:
        e.text = str(text)
    return e


def add_dict(parent: ET.Element, d: dict) -> ET.Element:
    """Nested dicts as nested elements (what a <desc> holds); None values are left out."""
    for k, v in d.items():
        if isinstance(v, dict):
            add_dict(add(parent, k), v)
        elif v is not None:
            add(parent, k, v)
    return parent


def sample_bytes(ts: np.ndarray, values: np.ndarray, fmt: str) -> bytes:
    """n samples, each with its 8-byte time stamp, as one packed record array (no Python loop per sample)."""
    values = np.asarray(values)
    n, c = values.shape
    rec = np.empty(n, np.dtype([("b", "u1"), ("t", "<f8"), ("v", FORMATS[fmt], (c,))]))
    rec["b"] = 8
    rec["t"] = ts
    rec["v"] = values
    return rec.tobytes()


class XDFWriter:
    """Chunks in a memory buffer of at most about `max_buffer` bytes (plus one chunk), written out whole
    by `flush` (the caller's clock: e.g. every half second) or when the buffer fills."""

    def __init__(self, path: str | os.PathLike, max_buffer: int = 1 << 20):
        self.path = Path(path)
        self._f = open(self.path, "wb", buffering=0)
        self._buf = bytearray(MAGIC)
        self.max_buffer = int(max_buffer)
        self.n_streams = 0
        self.bytes_written = 0
        info = ET.Element("info")
        add(info, "version", "1.0")
        add(info, "datetime", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self._put(chunk(FILE_HEADER, xml_bytes(info)))
        self.flush()

    def _put(self, b: bytes) -> None:
        self._buf += b
        if len(self._buf) >= self.max_buffer:
            self.flush()

    def add_stream(self, info: ET.Element) -> int:
        """Write a StreamHeader (an <info> element) and return the new stream's id (1, 2, ...)."""
        self.n_streams += 1
        self._put(chunk(STREAM_HEADER, struct.pack("<I", self.n_streams) + xml_bytes(info)))
        return self.n_streams

    def samples(self, sid: int, ts: np.ndarray, values: np.ndarray, fmt: str) -> None:
        """One Samples chunk: time stamps in seconds [n], values [n, channels] in the stream's format."""
        n = len(ts)
        if n:
            self._put(chunk(SAMPLES, struct.pack("<I", sid) + varlen(n) + sample_bytes(ts, values, fmt)))

    def clock_offset(self, sid: int, collection_time: float, offset: float) -> None:
        self._put(chunk(CLOCK_OFFSET, struct.pack("<Idd", sid, collection_time, offset)))

    def boundary(self) -> None:
        self._put(chunk(BOUNDARY_TAG, BOUNDARY))

    def footer(self, sid: int, info: ET.Element) -> None:
        self._put(chunk(STREAM_FOOTER, struct.pack("<I", sid) + xml_bytes(info)))

    def flush(self) -> None:
        view = memoryview(self._buf)
        while view.nbytes:
            n = self._f.write(view)
            view = view[n:]
        self.bytes_written += len(self._buf)
        self._buf = bytearray()

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()


# ----------------------------------------------------------------------------------------------- reading


@dataclass
class XDFStream:
    """One stream of a file: its header fields, time stamps (seconds) and values [n, channel_count]."""

    id: int
    header: ET.Element
    footer: ET.Element | None = None
    chunks_t: list = field(default_factory=list, repr=False)
    chunks_v: list = field(default_factory=list, repr=False)

    def field(self, tag: str, default: str = "") -> str:
        e = self.header.find(tag)
        return default if e is None or e.text is None else e.text

    @property
    def name(self) -> str:
        return self.field("name")

    @property
    def type(self) -> str:
        return self.field("type")

    @property
    def channel_format(self) -> str:
        return self.field("channel_format", "float32")

    @property
    def channel_count(self) -> int:
        return int(self.field("channel_count", "0"))

    @property
    def nominal_srate(self) -> float:
        return float(self.field("nominal_srate", "0") or 0)

    @property
    def labels(self) -> list[str]:
        return [c.findtext("label", "") for c in self.header.findall("desc/channels/channel")]

    def desc(self, path: str, default: str = "", footer: bool = False) -> str:
        """Text under <desc> of the header (or the footer), e.g. ``desc("spikestream/kind")``."""
        root = self.footer if footer else self.header
        e = None if root is None else root.find(f"desc/{path}")
        return default if e is None or e.text is None else e.text

    @property
    def time_stamps(self) -> np.ndarray:
        return np.concatenate(self.chunks_t) if self.chunks_t else np.zeros(0)

    @property
    def time_series(self) -> np.ndarray:
        dt = np.dtype(FORMATS.get(self.channel_format, "<f8"))
        return np.concatenate(self.chunks_v) if self.chunks_v else np.zeros((0, self.channel_count), dt)


def _read_varlen(f) -> int | None:
    b = f.read(1)
    if not b:
        return None
    size = {1: "<B", 4: "<I", 8: "<Q"}.get(b[0])
    raw = f.read(struct.calcsize(size)) if size else b""
    if size is None or len(raw) != struct.calcsize(size):
        raise EOFError("bad or truncated length")
    return struct.unpack(size, raw)[0]


def _parse_samples(buf: bytes, s: XDFStream, last_t: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A Samples chunk's content after the stream id. Fast path: every sample has its time stamp."""
    nb = buf[0]
    n = int.from_bytes(buf[1:1 + nb], "little")
    body = memoryview(buf)[1 + nb:]
    c = s.channel_count
    dt = np.dtype(FORMATS[s.channel_format])
    rec = np.dtype([("b", "u1"), ("t", "<f8"), ("v", dt, (c,))])
    if len(body) == n * rec.itemsize:
        r = np.frombuffer(body, rec)
        if np.all(r["b"] == 8):
            return r["t"].copy(), r["v"].copy(), float(r["t"][-1]) if n else last_t
    step = 1.0 / s.nominal_srate if s.nominal_srate > 0 else 0.0
    ts, vs, k = np.empty(n), np.empty((n, c), dt), 0
    for i in range(n):  # a writer that left out time stamps: each is the previous plus one period
        if body[k] == 8:
            last_t = struct.unpack_from("<d", body, k + 1)[0]
            k += 9
        else:
            last_t += step
            k += 1
        ts[i] = last_t
        vs[i] = np.frombuffer(body[k:k + c * dt.itemsize], dt)
        k += c * dt.itemsize
    return ts, vs, last_t


def read_xdf(path: str | os.PathLike, names: list[str] | None = None, headers_only: bool = False) -> list[XDFStream]:
    """Every stream of the file (or those named in `names`) with its samples, in the order of their
    headers. Samples of string streams and of streams not asked for are skipped without being read. A
    truncated or unreadable tail ends the reading quietly: what came before it is returned."""
    streams: dict[int, XDFStream] = {}
    last_t: dict[int, float] = {}
    with open(path, "rb") as f:
        if f.read(4) != MAGIC:
            raise ValueError(f"{path}: not an XDF file (no 'XDF:' magic)")
        while True:
            try:
                length = _read_varlen(f)
            except EOFError:
                break
            if length is None or length < 2:
                break
            head = f.read(2)
            if len(head) < 2:
                break
            tag = struct.unpack("<H", head)[0]
            if tag in (SAMPLES, CLOCK_OFFSET) and (headers_only or length > 6 and
                                                   _skip(f, streams, names, length)):
                f.seek(length - 2, os.SEEK_CUR)
                continue
            content = f.read(length - 2)
            if len(content) < length - 2:
                break  # a truncated last chunk
            try:
                if tag == STREAM_HEADER:
                    sid = struct.unpack_from("<I", content)[0]
                    streams[sid] = XDFStream(sid, ET.fromstring(content[4:]))
                elif tag == STREAM_FOOTER:
                    sid = struct.unpack_from("<I", content)[0]
                    if sid in streams:
                        streams[sid].footer = ET.fromstring(content[4:])
                elif tag == SAMPLES:
                    sid = struct.unpack_from("<I", content)[0]
                    s = streams[sid]
                    t, v, last_t[sid] = _parse_samples(content[4:], s, last_t.get(sid, 0.0))
                    s.chunks_t.append(t)
                    s.chunks_v.append(v)
            except (ET.ParseError, struct.error, KeyError, ValueError, IndexError):
                continue  # one bad chunk: go on with the next
    return [s for s in streams.values() if names is None or s.name in names]


def _skip(f, streams: dict, names, length: int) -> bool:
    """Whether the Samples/ClockOffset chunk at f (after its tag) belongs to a stream not wanted."""
    pos = f.tell()
    raw = f.read(4)
    f.seek(pos)
    if len(raw) < 4:
        return False
    s = streams.get(struct.unpack("<I", raw)[0])
    return s is None or s.channel_format not in FORMATS or (names is not None and s.name not in names)


def load_samples(path: str | os.PathLike, stream: str | None = None):
    """The rows of one numeric stream for replay: (t_us int64, data [n, C], channel names, nominal rate or
    None). `stream` names it; without a name the file must hold exactly one stream of type "samples"
    (or exactly one numeric stream)."""
    heads = read_xdf(path, headers_only=True)
    numeric = [s for s in heads if s.channel_format in FORMATS]
    if stream is not None:
        pick = [s for s in numeric if s.name == stream]
        if not pick:
            raise ValueError(f"file {path}: no numeric stream named {stream!r}; streams: {[s.name for s in heads]}")
    else:
        pick = [s for s in numeric if s.type == "samples"] or numeric
        if len(pick) != 1:
            raise ValueError(f"file {path}: give 'stream' = one of {[s.name for s in numeric]}")
    s = next(x for x in read_xdf(path, [pick[0].name]) if x.id == pick[0].id)
    t = np.round(s.time_stamps * 1e6).astype(np.int64)
    names = s.labels if len(s.labels) == s.channel_count and all(s.labels) else None
    return t, s.time_series, names, (s.nominal_srate or None)
