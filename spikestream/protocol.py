"""The wire format: one msgpack map per ZeroMQ frame. Never pickle.

docs/protocol.md is the human-readable twin of this module; keep the two in step.

Envelope (every message)::

    {"v": 1, "kind": str, "stream": str, "seq": uint, "t_us": int, "origin_ns": int, "body": map}

``t_us`` is the source time of the data (microseconds in the source's time base); ``origin_ns`` is the
wall clock (``time.time_ns()``) at which the oldest sensor sample behind this message was acquired, carried
unchanged through every stage so that any stage can measure end-to-end latency.

Arrays inside a body are maps ``{"dtype": "<f4", "shape": [n, c], "data": bin}``: raw little-endian bytes
in C order. Every inbound frame is validated here, once; the rest of the code trusts a `Message`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgpack
import numpy as np

from spikestream.arraycheck import all_finite, increasing, max_of, min_max

VERSION = 1
MAX_STREAM_NAME = 256  # characters; a stream is "<node>.<port>"
INT64 = (-(1 << 63), (1 << 63) - 1)  # the range of t_us and origin_ns
#: Default ceiling for one frame; a node may configure a larger one (an event-camera slice, say).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

ALLOWED_DTYPES = frozenset(
    {"<f4", "<f8", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "|u1", "|i1", "|b1"}
)


class ProtocolError(ValueError):
    """An inbound frame that is not a valid message. The text says what is wrong."""


# ----------------------------------------------------------------------------------------------- arrays


def pack_array(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and np.little_endian is False):
        a = a.astype(a.dtype.newbyteorder("<"))
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}


_NP_DTYPES = {s: np.dtype(s) for s in ALLOWED_DTYPES}


def unpack_array(obj: Any, what: str, dtype: str | None = None, ndim: int | None = None) -> np.ndarray:
    if type(obj) is not dict:
        raise ProtocolError(f"{what}: expected an array map, got {type(obj).__name__}")
    try:
        dt, shape, data = obj["dtype"], obj["shape"], obj["data"]
    except KeyError as e:
        raise ProtocolError(f"{what}: array map lacks {e.args[0]!r}") from None
    npdt = _NP_DTYPES.get(dt) if type(dt) is str else None
    if npdt is None:
        raise ProtocolError(f"{what}: dtype {dt!r} is not allowed")
    if dtype is not None and dt != dtype:
        raise ProtocolError(f"{what}: dtype {dt} where {dtype} is required")
    if type(shape) is not list:
        raise ProtocolError(f"{what}: bad shape {shape!r}")
    count = 1
    for n in shape:
        if type(n) is not int or n < 0:
            raise ProtocolError(f"{what}: bad shape {shape!r}")
        count *= n
    if ndim is not None and len(shape) != ndim:
        raise ProtocolError(f"{what}: {len(shape)}-d array where {ndim}-d is required")
    if type(data) is not bytes:
        raise ProtocolError(f"{what}: data is not binary")
    if count * npdt.itemsize != len(data):
        raise ProtocolError(f"{what}: shape {list(shape)} x {dt} needs {count * npdt.itemsize} bytes, got {len(data)}")
    a = np.frombuffer(data, dtype=npdt)
    return a if len(shape) == 1 else a.reshape(shape)


def _need(m: dict, key: str, types: type | tuple[type, ...], what: str) -> Any:
    """``m[key]``, which must be of exactly one of `types` (so a bool is not an int)."""
    v = m.get(key, _MISSING)
    t = type(v)
    if t is types or (type(types) is tuple and t in types):
        return v
    if v is _MISSING:
        raise ProtocolError(f"{what}: missing field {key!r}")
    raise ProtocolError(f"{what}: field {key!r} has type {t.__name__}")


def _names(m: dict, key: str, n: int, what: str, per: str) -> list:
    """``m[key]`` (default empty): a list of `n` strings, one per `per`, or empty."""
    names = m.get(key, [])
    if type(names) is not list or (names and (len(names) != n or not all(type(s) is str for s in names))):
        raise ProtocolError(f"{what}: {key} must be a list of one name per {per}")
    return names


_MISSING = object()


# ----------------------------------------------------------------------------------------------- bodies


@dataclass(slots=True)
class Samples:
    """A chunk of analog samples: ``data[i, c]`` is channel c at time ``t_us[i]`` (strictly increasing)."""

    KIND: ClassVar[str] = "samples"
    t_us: np.ndarray  # int64 [n]
    data: np.ndarray  # float32 [n, C]
    rate_hz: float = 0.0  # nominal rate; 0 = irregular
    channels: list[str] = field(default_factory=list)

    def to_wire(self) -> dict:
        return {"t": pack_array(np.asarray(self.t_us, np.int64)), "data": pack_array(np.asarray(self.data, np.float32)),
                "rate": float(self.rate_hz), "channels": list(self.channels)}

    @classmethod
    def from_wire(cls, m: dict) -> "Samples":
        t = unpack_array(_need(m, "t", dict, "samples"), "samples.t", "<i8", 1)
        d = unpack_array(_need(m, "data", dict, "samples"), "samples.data", "<f4", 2)
        if d.shape[0] != t.shape[0]:
            raise ProtocolError(f"samples: {t.shape[0]} timestamps for {d.shape[0]} rows")
        if t.size > 1 and not increasing(t, strict=True):
            raise ProtocolError("samples: timestamps are not strictly increasing")
        if not all_finite(d):
            raise ProtocolError("samples: data holds NaN or inf")
        rate = _need(m, "rate", (int, float), "samples")
        return cls(t, d, float(rate), _names(m, "channels", d.shape[1], "samples", "column"))


@dataclass(slots=True)
class Spikes:
    """Spikes in the window ``[t0_us, t1_us)``: neuron ``idx[i]`` fired at ``t_us[i]`` (non-decreasing)."""

    KIND: ClassVar[str] = "spikes"
    t0_us: int
    t1_us: int
    n_neurons: int
    idx: np.ndarray  # uint32 [m]
    t_us: np.ndarray  # int64 [m]

    def to_wire(self) -> dict:
        return {"t0": int(self.t0_us), "t1": int(self.t1_us), "n": int(self.n_neurons),
                "idx": pack_array(np.asarray(self.idx, np.uint32)), "t": pack_array(np.asarray(self.t_us, np.int64))}

    @classmethod
    def from_wire(cls, m: dict) -> "Spikes":
        t0 = _need(m, "t0", int, "spikes")
        t1 = _need(m, "t1", int, "spikes")
        n = _need(m, "n", int, "spikes")
        if t1 < t0:
            raise ProtocolError(f"spikes: window end {t1} before start {t0}")
        if n < 0:
            raise ProtocolError("spikes: negative neuron count")
        idx = unpack_array(_need(m, "idx", dict, "spikes"), "spikes.idx", "<u4", 1)
        t = unpack_array(_need(m, "t", dict, "spikes"), "spikes.t", "<i8", 1)
        if idx.shape != t.shape:
            raise ProtocolError(f"spikes: {idx.size} indices for {t.size} times")
        if idx.size:
            top = max_of(idx)  # unsigned: the smallest is >= 0
            if top >= n:
                raise ProtocolError(f"spikes: neuron index {top} >= n_neurons {n}")
            ordered = idx.size == 1 or increasing(t, strict=False)
            lo, hi = (int(t[0]), int(t[-1])) if ordered else min_max(t)  # sorted: the ends are the extremes
            if lo < t0 or hi >= t1:
                raise ProtocolError("spikes: a spike time lies outside the window")
            if not ordered:
                raise ProtocolError("spikes: times are not sorted")
        return cls(t0, t1, n, idx, t)


@dataclass(slots=True)
class Control:
    """Control outputs at source time ``t_us`` of the envelope. ``safe`` marks a watchdog/safe value."""

    KIND: ClassVar[str] = "control"
    values: np.ndarray  # float64 [K]
    names: list[str] = field(default_factory=list)
    safe: bool = False

    def to_wire(self) -> dict:
        return {"values": pack_array(np.asarray(self.values, np.float64)), "names": list(self.names), "safe": bool(self.safe)}

    @classmethod
    def from_wire(cls, m: dict) -> "Control":
        v = unpack_array(_need(m, "values", dict, "control"), "control.values", "<f8", 1)
        if not all_finite(v):
            raise ProtocolError("control: values hold NaN or inf")
        names = _names(m, "names", v.size, "control", "value")
        safe = m.get("safe", False)
        if not isinstance(safe, bool):
            raise ProtocolError("control: safe must be a boolean")
        return cls(v, names, safe)


@dataclass(slots=True)
class Events:
    """Camera events (x, y, t in us, polarity) in the window ``[t0_us, t1_us)``."""

    KIND: ClassVar[str] = "events"
    t0_us: int
    t1_us: int
    width: int
    height: int
    x: np.ndarray  # uint16
    y: np.ndarray  # uint16
    t: np.ndarray  # int64
    p: np.ndarray  # uint8

    def to_wire(self) -> dict:
        return {"t0": int(self.t0_us), "t1": int(self.t1_us), "w": int(self.width), "h": int(self.height),
                "x": pack_array(np.asarray(self.x, np.uint16)), "y": pack_array(np.asarray(self.y, np.uint16)),
                "t": pack_array(np.asarray(self.t, np.int64)), "p": pack_array(np.asarray(self.p, np.uint8))}

    @classmethod
    def from_wire(cls, m: dict) -> "Events":
        t0, t1 = _need(m, "t0", int, "events"), _need(m, "t1", int, "events")
        w, h = _need(m, "w", int, "events"), _need(m, "h", int, "events")
        x = unpack_array(_need(m, "x", dict, "events"), "events.x", "<u2", 1)
        y = unpack_array(_need(m, "y", dict, "events"), "events.y", "<u2", 1)
        t = unpack_array(_need(m, "t", dict, "events"), "events.t", "<i8", 1)
        p = unpack_array(_need(m, "p", dict, "events"), "events.p", "|u1", 1)
        if not (x.size == y.size == t.size == p.size):
            raise ProtocolError("events: x, y, t, p differ in length")
        if x.size and (min_max(x)[1] >= w or min_max(y)[1] >= h):
            raise ProtocolError("events: an event lies outside the sensor")
        if t1 < t0:
            raise ProtocolError("events: an event time lies outside the window")
        if t.size:
            lo, hi = min_max(t)
            if lo < t0 or hi >= t1:
                raise ProtocolError("events: an event time lies outside the window")
        return cls(t0, t1, w, h, x, y, t, p)


@dataclass(slots=True)
class Stats:
    """A node's counters and latency figures, published on its stats stream."""

    KIND: ClassVar[str] = "stats"
    node: str
    values: dict[str, Any]

    def to_wire(self) -> dict:
        return {"node": self.node, "values": self.values}

    @classmethod
    def from_wire(cls, m: dict) -> "Stats":
        node = _need(m, "node", str, "stats")
        vals = _need(m, "values", dict, "stats")
        return cls(node, vals)


@dataclass(slots=True)
class Command:
    """A request on a node's control channel, e.g. ``{"cmd": "learning", "args": {"on": false}}``."""

    KIND: ClassVar[str] = "command"
    cmd: str
    args: dict[str, Any] = field(default_factory=dict)
    token: str = ""  # the pipeline's control token, when the node requires one (runtime/auth.py)

    def to_wire(self) -> dict:
        return {"cmd": self.cmd, "args": self.args, **({"token": self.token} if self.token else {})}

    @classmethod
    def from_wire(cls, m: dict) -> "Command":
        return cls(_need(m, "cmd", str, "command"), _need(m, "args", dict, "command") if "args" in m else {},
                   _need(m, "token", str, "command") if "token" in m else "")


@dataclass(slots=True)
class Reply:
    """The answer to a `Command`."""

    KIND: ClassVar[str] = "reply"
    ok: bool
    result: Any = None
    error: str = ""

    def to_wire(self) -> dict:
        return {"ok": self.ok, "result": self.result, "error": self.error}

    @classmethod
    def from_wire(cls, m: dict) -> "Reply":
        return cls(_need(m, "ok", bool, "reply"), m.get("result"), str(m.get("error", "")))


Body = Samples | Spikes | Control | Events | Stats | Command | Reply
BODIES: dict[str, type] = {b.KIND: b for b in (Samples, Spikes, Control, Events, Stats, Command, Reply)}


# --------------------------------------------------------------------------------------------- envelope


@dataclass(slots=True)
class Message:
    body: Body
    stream: str = ""
    seq: int = 0
    t_us: int = 0
    origin_ns: int = 0

    @property
    def kind(self) -> str:
        return self.body.KIND


def pack(msg: Message) -> bytes:
    return msgpack.packb(
        {"v": VERSION, "kind": msg.body.KIND, "stream": msg.stream, "seq": int(msg.seq), "t_us": int(msg.t_us),
         "origin_ns": int(msg.origin_ns), "body": msg.body.to_wire()},
        use_bin_type=True,
    )


def unpack(frame: bytes, max_bytes: int = MAX_MESSAGE_BYTES, kinds: tuple[str, ...] | None = None) -> Message:
    """Decode and validate one frame. Raises `ProtocolError` with the reason; never anything else."""
    if len(frame) > max_bytes:
        raise ProtocolError(f"message of {len(frame)} bytes exceeds the limit of {max_bytes}")
    try:
        m = msgpack.unpackb(frame, raw=False, strict_map_key=True, max_bin_len=max_bytes, max_str_len=1 << 20,
                            max_array_len=1 << 16, max_map_len=1 << 12)
    except Exception as e:  # msgpack raises several unrelated types for truncated or garbage input
        raise ProtocolError(f"not a msgpack message ({type(e).__name__}: {e})") from None
    if type(m) is not dict:
        raise ProtocolError(f"message is a {type(m).__name__}, not a map")
    v = m.get("v")
    if type(v) is not int or v != VERSION:
        raise ProtocolError(f"protocol version {v!r} is not supported (this node speaks {VERSION})")
    kind = _need(m, "kind", str, "envelope")
    if kind not in BODIES:
        raise ProtocolError(f"unknown message kind {kind!r}")
    if kinds is not None and kind not in kinds:
        raise ProtocolError(f"message kind {kind!r} where {'/'.join(kinds)} is expected")
    stream = _need(m, "stream", str, "envelope")
    seq = _need(m, "seq", int, "envelope")
    t_us = _need(m, "t_us", int, "envelope")
    origin = _need(m, "origin_ns", int, "envelope")
    if seq < 0:
        raise ProtocolError("envelope: negative sequence number")
    if len(stream) > MAX_STREAM_NAME:
        raise ProtocolError(f"envelope: stream name of {len(stream)} characters (at most {MAX_STREAM_NAME})")
    if not (INT64[0] <= t_us <= INT64[1] and INT64[0] <= origin <= INT64[1]):
        raise ProtocolError("envelope: t_us or origin_ns outside the int64 range")
    try:
        body = BODIES[kind].from_wire(_need(m, "body", dict, "envelope"))
    except ProtocolError:
        raise
    except Exception as e:  # a shape that makes numpy complain is still just a bad message
        raise ProtocolError(f"{kind}: {type(e).__name__}: {e}") from None
    return Message(body, stream, seq, t_us, origin)


def plain(o: Any) -> Any:
    """Numpy values and arrays as plain Python (lists, ints, floats, str keys): msgpack- and JSON-able."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer, np.floating, np.bool_)):
        return o.item()
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    return o


def to_jsonable(msg: Message) -> dict:
    """A JSON-friendly view of a message (for `spikestream tap`)."""
    body = {f: plain(getattr(msg.body, f)) for f in msg.body.__dataclass_fields__}
    return {"kind": msg.kind, "stream": msg.stream, "seq": msg.seq, "t_us": msg.t_us, "origin_ns": msg.origin_ns, "body": body}
