"""`spikestream record`: subscribe to pipeline outputs and write what flows there to an XDF file.

Why XDF: LabRecorder's format, read by pyxdf, MNE, EEGLAB and MATLAB, so a run can be looked at next to
recordings of other lab equipment, and replayed (``kind = "file_source"`` with a ``.xdf`` path).

One XDF stream per spikestream stream and kind (and channel count, should a stream change width); time
stamps are the messages' source times in seconds (``t_us / 1e6``), not the recorder's clock; each stream
gets two ClockOffset chunks of 0 (at its first and last stamp) so that readers which synchronise clocks
(pyxdf by default) leave the stamps as they are. Per kind (docs/recording.md):

- samples: float32, one channel per data column, one XDF sample per row, nominal rate = ``rate_hz``;
- spikes:  int64 channels ``neuron, packet`` (the message's seq), one XDF sample per spike at its own
  time; ``n_neurons`` in the header's desc;
- control: double64 channels = the values, then ``safe`` (0/1), at the envelope's ``t_us``;
- events:  int32 channels ``x, y, p``, one XDF sample per event at its own time; width/height in the desc.

Stats, commands and replies are not recorded (counted). A frame that does not decode is counted and
skipped. Each stream's footer holds the message count, first and last seq and the gaps in seq seen
(messages dropped upstream or by ZeroMQ while recording). Memory is bounded: the writer's buffer, one
message, and at most `max_streams` streams.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from spikestream import __version__
from spikestream import protocol as P
from spikestream.record.xdf import XDFWriter, add, add_dict

log = logging.getLogger("spikestream.record")


@dataclass
class _Out:
    """One XDF stream being written, and what the footer will say about it."""

    sid: int
    fmt: str
    messages: int = 0
    samples: int = 0
    first_t: float | None = None
    last_t: float | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    seq_gaps: int = 0
    dropped_messages: int = 0
    seq_resets: int = 0
    extra: dict = field(default_factory=dict)


def _layout(m: P.Message) -> tuple[str, list[str], float, np.ndarray, np.ndarray, dict] | None:
    """(channel_format, channel labels, nominal rate, time stamps [n] s, values [n, C], kind's desc)."""
    b = m.body
    if isinstance(b, P.Samples):
        c = b.data.shape[1]
        labels = list(b.channels) if b.channels else [f"ch{i}" for i in range(c)]
        return "float32", labels, b.rate_hz, b.t_us / 1e6, b.data, {}
    if isinstance(b, P.Spikes):
        vals = np.empty((b.idx.size, 2), np.int64)
        vals[:, 0] = b.idx
        vals[:, 1] = m.seq
        return "int64", ["neuron", "packet"], 0.0, b.t_us / 1e6, vals, {"n_neurons": b.n_neurons}
    if isinstance(b, P.Control):
        k = b.values.size
        labels = [*(b.names or [f"u{i}" for i in range(k)]), "safe"]
        vals = np.append(b.values, 1.0 if b.safe else 0.0)[None, :]
        return "double64", labels, 0.0, np.array([m.t_us / 1e6]), vals, {}
    if isinstance(b, P.Events):
        vals = np.stack([b.x.astype(np.int32), b.y.astype(np.int32), b.p.astype(np.int32)], axis=1)
        return "int32", ["x", "y", "p"], 0.0, b.t / 1e6, vals, {"width": b.width, "height": b.height}
    return None


class Recording:
    """Messages in, XDF streams out (no sockets here: `record` feeds it, tests may too)."""

    def __init__(self, writer: XDFWriter, max_streams: int = 256):
        self.w = writer
        self.max_streams = max_streams
        self.outs: dict[tuple[str, str, int], _Out] = {}
        self.counts = {"messages": 0, "malformed": 0, "not_recorded": 0, "too_many_streams": 0}

    def malformed(self, why: str) -> None:
        self.counts["malformed"] += 1
        n = self.counts["malformed"]
        if n & (n - 1) == 0:  # the 1st, 2nd, 4th, ... : a garbage stream cannot flood the log
            log.warning("skipped a malformed frame (%d so far): %s", n, why)

    def add(self, m: P.Message, endpoint: str = "") -> None:
        lay = _layout(m)
        if lay is None:
            self.counts["not_recorded"] += 1
            return
        fmt, labels, rate, ts, vals, kdesc = lay
        key = (m.stream, m.kind, len(labels))
        o = self.outs.get(key)
        if o is None:
            if len(self.outs) >= self.max_streams:
                self.counts["too_many_streams"] += 1
                return
            o = self.outs[key] = self._open(key, fmt, labels, rate, endpoint, kdesc)
        self.counts["messages"] += 1
        o.messages += 1
        if o.last_seq is not None:
            if m.seq > o.last_seq + 1:
                o.seq_gaps += 1
                o.dropped_messages += m.seq - o.last_seq - 1
            elif m.seq <= o.last_seq:
                o.seq_resets += 1  # the publisher restarted
        else:
            o.first_seq = m.seq
        o.last_seq = m.seq
        if m.kind == "spikes":
            o.extra["n_neurons_max"] = max(o.extra.get("n_neurons_max", 0), m.body.n_neurons)
            o.extra.setdefault("first_window_s", m.body.t0_us / 1e6)
            o.extra["last_window_s"] = m.body.t1_us / 1e6
        elif m.kind == "control" and m.body.safe:
            o.extra["safe_messages"] = o.extra.get("safe_messages", 0) + 1
        if len(ts):
            if o.first_t is None:  # offsets of 0 (source time is the only clock): readers that synchronise
                o.first_t = float(ts[0])  # clocks (pyxdf by default) leave the stamps as they are
                self.w.clock_offset(o.sid, o.first_t, 0.0)
            o.last_t = float(ts[-1])
            o.samples += len(ts)
            self.w.samples(o.sid, ts, vals, fmt)

    def _open(self, key, fmt, labels, rate, endpoint, kdesc) -> _Out:
        stream, kind, width = key
        same = sum(1 for k in self.outs if k[:2] == key[:2])
        info = ET.Element("info")
        add(info, "name", stream if not same else f"{stream}#{same + 1}")
        add(info, "type", kind)
        add(info, "channel_count", width)
        add(info, "nominal_srate", repr(float(rate)))
        add(info, "channel_format", fmt)
        add(info, "source_id", f"spikestream:{stream}:{kind}")
        add(info, "created_at", repr(time.time()))
        desc = add(info, "desc")
        chans = add(desc, "channels")
        for lab in labels:
            add_dict(add(chans, "channel"), {"label": lab, "type": kind})
        add_dict(add(desc, "spikestream"), {
            "stream": stream, "kind": kind, "version": __version__, "protocol": P.VERSION, "endpoint": endpoint,
            "time_stamps": "source time t_us / 1e6 (seconds)", **kdesc})
        return _Out(self.w.add_stream(info), fmt)

    def close(self) -> dict:
        """Write every stream's footer and close the file; return a summary."""
        for (stream, kind, _), o in self.outs.items():
            info = ET.Element("info")
            add(info, "first_timestamp", repr(o.first_t if o.first_t is not None else 0.0))
            add(info, "last_timestamp", repr(o.last_t if o.last_t is not None else 0.0))
            add(info, "sample_count", o.samples)
            add(info, "clock_offsets")
            add_dict(add(add(info, "desc"), "spikestream"), {
                "stream": stream, "kind": kind, "messages": o.messages, "first_seq": o.first_seq,
                "last_seq": o.last_seq, "seq_gaps": o.seq_gaps, "dropped_messages": o.dropped_messages,
                "seq_resets": o.seq_resets, "malformed_frames": self.counts["malformed"], **o.extra})
            if o.last_t is not None:
                self.w.clock_offset(o.sid, o.last_t, 0.0)
            self.w.footer(o.sid, info)
        self.w.close()
        return {**self.counts, "path": str(self.w.path), "bytes": self.w.bytes_written,
                "streams": {f"{k[0]} ({k[1]})": {"samples": o.samples, "messages": o.messages,
                                                 "dropped_messages": o.dropped_messages, "seq_resets": o.seq_resets}
                            for k, o in self.outs.items()}}


def record(endpoints: list[str], out: str, duration: float | None = None, keys: str | None = None,
           stop: threading.Event | None = None, flush_every_s: float = 0.5, boundary_every_s: float = 10.0,
           max_message_bytes: int = P.MAX_MESSAGE_BYTES, hwm: int = 10_000) -> dict:
    """Record `endpoints` (one SUB socket each, so each stream knows where it came from) into `out` until
    `duration` seconds have passed, `stop` is set, SIGINT or SIGTERM. Returns the summary."""
    import zmq

    from spikestream import transport

    for e in endpoints:
        transport.check_endpoint(e)
    stop = stop or threading.Event()
    ctx = zmq.Context()
    curve = transport.load_curve_keys(keys) if keys else None
    opt = transport.SocketOptions(hwm=hwm, linger_ms=0, max_message_bytes=max_message_bytes, curve=curve)
    socks = {}
    for e in endpoints:
        s = transport.sub(ctx, [], opt)
        s.setsockopt(zmq.RECONNECT_IVL, 20)  # catch a publisher that binds after us early: its first messages
        s.connect(e)
        socks[s] = e
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rec = Recording(XDFWriter(out))
    rec.w.flush()
    t_end = None if duration is None else time.monotonic() + duration
    next_flush = next_boundary = time.monotonic()
    try:
        while not stop.is_set() and (t_end is None or time.monotonic() < t_end):
            for s, _ in poller.poll(50):
                for _ in range(1000):  # drain, but come back to the clock now and then
                    try:
                        frame = s.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        m = P.unpack(frame, max_message_bytes)
                    except P.ProtocolError as e:
                        rec.malformed(str(e))
                        continue
                    rec.add(m, socks[s])
            now = time.monotonic()
            if now >= next_boundary:
                rec.w.boundary()  # lets a reader resynchronise after a damaged chunk
                next_boundary = now + boundary_every_s
            if now >= next_flush:
                rec.w.flush()
                next_flush = now + flush_every_s
    except KeyboardInterrupt:
        pass
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        for s in socks:
            s.close(linger=0)
        ctx.term()
        summary = rec.close()
    return summary
