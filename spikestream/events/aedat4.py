"""iniVation AEDAT 4.0: reader (uncompressed, LZ4, Zstd packets; works without the data table) and writer.

Layout: `#!AER-DAT4.0\\r\\n`, int32 length + IOHeader FlatBuffer (id "IOHE": compression enum 0 none,
1 LZ4, 2 LZ4_HIGH, 3 ZSTD, 4 ZSTD_HIGH; int64 dataTablePosition, -1 if none; infoNode XML naming the
streams, their typeIdentifier and sizeX/sizeY), then packets [int32 streamId][int32 size][size bytes of
compressed, size-prefixed FlatBuffer]. An event packet (id "EVTS") holds a vector of 16-byte structs
Event{int64 t; int16 x; int16 y; bool polarity}. A trigger packet (id "TRIG") holds a vector of tables
Trigger{int64 timestamp; int8 type}, kept as the trigger side channel: id = dv TriggerType, value 0 for
the falling-edge types, else 1.

The reader walks packets in file order up to dataTablePosition (or to the end of the file when the table is
missing or points past the end), so it never needs the table. A packet that fails to decompress or
decode is counted and skipped; a truncated last packet ends the read cleanly (counted).
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import lz4.frame
import numpy as np
import zstandard
from numba import njit

from spikestream.events.aedat2 import aedat_sniffer
from spikestream.events.blockio import TRIGGER_DTYPE, EventWriter, PacketReader
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.flatbuf import FlatBufferError, Table, build_table
from spikestream.events.io import FormatSpec, register_format

MAGIC = b"#!AER-DAT4.0\r\n"
MAX_PACKET_BYTES = 1 << 26  # compressed or decompressed; dv writes packets of a few MB at most
_DV_EVENT = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1"), ("_pad", "V3")])
_FALLING = (2, 5)  # dv TriggerType: EXTERNAL_SIGNAL_FALLING_EDGE, EXTERNAL_GENERATOR_FALLING_EDGE
COMPRESSION = {0: "none", 1: "lz4", 2: "lz4", 3: "zstd", 4: "zstd"}


@njit(cache=True)
def _convert_events(raw, width, height, ox, oy, ot, op):
    """raw: int64 pairs per dv Event (t; then x int16, y int16, polarity byte). Returns (n kept, n out of
    bounds); negative coordinates count as out of bounds."""
    n = 0
    bad = 0
    for k in range(raw.shape[0] // 2):
        w = raw[2 * k + 1]
        x = w & 0xFFFF
        y = (w >> 16) & 0xFFFF
        if x >= 0x8000 or y >= 0x8000 or x >= width or y >= height:
            bad += 1
            continue
        ox[n] = x
        oy[n] = y
        ot[n] = raw[2 * k]
        op[n] = 1 if (w >> 32) & 0xFF else 0
        n += 1
    return n, bad


def parse_streams(xml_text: str) -> dict[int, dict[str, str]]:
    """stream id -> {'typeIdentifier': ..., 'sizeX': ..., 'sizeY': ...} from the infoNode XML."""
    streams: dict[int, dict[str, str]] = {}
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return streams
    out_info = root.find("node") if root.tag == "dv" else root
    if out_info is None:
        return streams
    for node in out_info.findall("node"):
        try:
            sid = int(node.get("name", ""))
        except ValueError:
            continue
        attrs = {a.get("key", ""): (a.text or "") for a in node.iter("attr")}
        streams[sid] = attrs
    return streams


class Aedat4Reader(PacketReader):
    format = "aedat4"
    counter_names = ("bad_packets", "truncated_packets", "other_stream_packets")

    def __init__(self, path, chunk_events: int = 1 << 18, stream_id: int | None = None):
        super().__init__(path, chunk_events)
        f = self._f
        if f.read(len(MAGIC)) != MAGIC:
            self._fail("not an AEDAT 4.0 file (missing #!AER-DAT4.0 line)")
        raw = f.read(4)
        if len(raw) < 4:
            self._fail("file ends inside the IOHeader")
        hlen = struct.unpack("<i", raw)[0]
        if hlen <= 0 or hlen > 1 << 24:
            self._fail(f"IOHeader length {hlen} is not plausible")
        hbuf = f.read(hlen)
        if len(hbuf) < hlen:
            self._fail("file ends inside the IOHeader")
        try:
            root = Table.root(hbuf)
            comp = root.scalar(0, "i", 0)
            self.data_table_position = root.scalar(1, "q", -1)
            info = root.string(2) or ""
        except (FlatBufferError, struct.error) as e:
            self._fail(f"damaged IOHeader ({e})")
        if comp not in COMPRESSION:
            self._fail(f"unknown compression code {comp}")
        self.compression = COMPRESSION[comp]
        self.streams = parse_streams(info)
        ev_ids = [s for s, a in self.streams.items() if a.get("typeIdentifier") == "EVTS"]
        trig_ids = [s for s, a in self.streams.items() if a.get("typeIdentifier") == "TRIG"]
        if stream_id is None:
            if not ev_ids and self.streams:
                self._fail(f"no event (EVTS) stream; streams: {self.streams}")
            stream_id = ev_ids[0] if ev_ids else 0
        self.stream_id = int(stream_id)
        self._trigger_ids = set(trig_ids)
        attrs = self.streams.get(self.stream_id, {})
        try:
            w, h = int(attrs.get("sizeX", "")), int(attrs.get("sizeY", ""))
            self.width, self.height = (w, h) if w > 0 and h > 0 else (None, None)
        except ValueError:
            pass
        self._end = self.size
        dtp = self.data_table_position
        if dtp is not None and 0 < dtp <= self.size:
            self._end = dtp
        self._zstd = zstandard.ZstdDecompressor()

    def _decompress(self, data: bytes) -> bytes:
        """Bounded: a damaged size field must not make us allocate without limit."""
        if self.compression == "lz4":
            if lz4.frame.get_frame_info(data).get("content_size", 0) > MAX_PACKET_BYTES:
                raise ValueError("declared packet size too large")
            out = lz4.frame.decompress(data)
        elif self.compression == "zstd":
            if zstandard.frame_content_size(data) > MAX_PACKET_BYTES:
                raise ValueError("declared packet size too large")
            out = self._zstd.decompressobj().decompress(data)
        else:
            out = data
        if len(out) >= MAX_PACKET_BYTES:
            raise ValueError("decompressed packet too large")
        return out

    def _next_packet(self):
        f = self._f
        while True:
            pos = f.tell()
            if pos >= self._end:
                return None
            head = f.read(8)
            if len(head) < 8:
                if head:
                    self._counters[1] += 1
                return None
            sid, size = struct.unpack("<ii", head)
            if size <= 0 or size > MAX_PACKET_BYTES or pos + 8 + size > self.size:
                self._counters[1] += 1  # a torn or damaged packet header: nothing after it can be trusted
                f.seek(self.size)
                return None
            if sid != self.stream_id and sid not in self._trigger_ids:
                f.seek(size, 1)
                self._counters[2] += 1
                continue
            data = f.read(size)
            try:
                buf = self._decompress(data)
                table = Table.root(buf, 4)
                if sid == self.stream_id:
                    p, n = table.vector(0, _DV_EVENT.itemsize)
                    return self._convert(buf, p, n)
                trig = table.tables(0)  # Trigger is a table {int64 timestamp; int8 type}
                if trig:
                    out = np.empty(len(trig), TRIGGER_DTYPE)
                    for k, tb in enumerate(trig):
                        typ = tb.scalar(1, "b", 0)
                        out[k] = (tb.scalar(0, "q", 0), typ & 0xFF, 0 if typ in _FALLING else 1)
                    self._keep_triggers(out)
            except (RuntimeError, zstandard.ZstdError, FlatBufferError, ValueError, struct.error, MemoryError):
                self._counters[0] += 1

    def _convert(self, buf: bytes, pos: int, n: int) -> np.ndarray:
        raw = np.frombuffer(buf, "<i8", count=2 * n, offset=pos)
        if not raw.flags.aligned:
            raw = raw.copy()
        out = np.empty(n, EVENT_DTYPE)
        k, bad = _convert_events(raw, self.width or 1 << 16, self.height or 1 << 16, out["x"], out["y"],
                                 out["t"], out["p"])
        if bad:
            self._count("out_of_bounds", bad)
        return out[:k]


def _info_xml(width: int | None, height: int | None, compression: str) -> str:
    size = ""
    if width and height:
        size = (f'<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
                f'<attr key="sizeX" type="int">{width}</attr><attr key="sizeY" type="int">{height}</attr>'
                f'<attr key="source" type="string">spikestream</attr></node>')
    return ('<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
            '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
            f'<attr key="compression" type="string">{compression.upper()}</attr>'
            '<attr key="originalModuleName" type="string">spikestream</attr>'
            '<attr key="originalOutputName" type="string">events</attr>'
            '<attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>'
            f'<attr key="typeIdentifier" type="string">EVTS</attr>{size}</node></node></dv>')


class Aedat4Writer(EventWriter):
    """AEDAT 4.0 writer: one event stream (id 0), packets of at most `packet_events`, LZ4 or Zstd or none.
    No data table is written (dataTablePosition -1); readers then walk the packets."""

    format = "aedat4"

    def __init__(self, path, width=None, height=None, compression: str = "lz4", packet_events: int = 4096):
        super().__init__(path, width, height)
        codes = {"none": 0, "lz4": 1, "zstd": 3}
        if compression not in codes:
            self._f.close()
            raise ValueError(f"compression must be one of {sorted(codes)}, got {compression!r}")
        if int(packet_events) < 1:
            self._f.close()
            raise ValueError("packet_events must be >= 1")
        self.compression = compression
        self.packet_events = int(packet_events)
        self._zstd = zstandard.ZstdCompressor()
        header = build_table([("i", codes[compression]), ("q", -1)], identifier=b"IOHE",
                             string=(2, _info_xml(self.width, self.height, compression)))
        self._f.write(MAGIC + struct.pack("<i", len(header)) + header)

    def _compress(self, data: bytes) -> bytes:
        if self.compression == "lz4":
            return lz4.frame.compress(data)
        if self.compression == "zstd":
            return self._zstd.compress(data)
        return data

    def write(self, ev: np.ndarray) -> None:
        ev = self._check(ev, max_xy=32767)
        for i in range(0, len(ev), self.packet_events):
            part = ev[i:i + self.packet_events]
            raw = np.zeros(len(part), _DV_EVENT)
            raw["t"] = part["t"]
            raw["x"] = part["x"]
            raw["y"] = part["y"]
            raw["p"] = part["p"]
            fb = build_table([], identifier=b"EVTS", vector=(0, raw.tobytes(), len(part), 8), size_prefixed=True)
            data = self._compress(fb)
            self._f.write(struct.pack("<ii", 0, len(data)) + data)
        if len(ev):
            self.n_written += len(ev)
            self._last_t = int(ev["t"][-1])


register_format(FormatSpec("aedat4", "iniVation AEDAT 4.0 (LZ4/Zstd packets)", (".aedat4",), Aedat4Reader,
                           Aedat4Writer, sniff=aedat_sniffer("4"), aliases=("aedat4.0",)))
