"""iniVation AEDAT 3.1: `#!AER-DAT3.1` ... `#!END-HEADER` text header, then packets.

Packet header (28 bytes, little-endian): int16 eventType, int16 eventSource, int32 eventSize,
int32 eventTSOffset, int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid;
then eventCapacity * eventSize bytes. Polarity events (type 1, 8 bytes): uint32 data (valid bit 0,
polarity bit 1, y bits 2-16, x bits 17-31) and int32 timestamp; t = (TSOverflow << 31) | timestamp.
Special events (type 0) with an external-input type go to the trigger side channel; other packet types
are skipped and counted. Invalid (valid bit clear) events are dropped and counted.
"""

from __future__ import annotations

import struct

import numpy as np

from spikestream.events.aedat2 import aedat_sniffer, read_hash_header, sensor_size_from_text
from spikestream.events.blockio import TRIGGER_DTYPE, PacketReader
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import FormatSpec, register_format

_HEADER = struct.Struct("<hhiiiiii")
MAX_PACKET_BYTES = 1 << 28
POLARITY_EVENT = 1
SPECIAL_EVENT = 0
#: libcaer special-event types that are external input edges: (type, value) -> trigger value
_EXT_INPUT = {2: 0, 3: 1, 4: 1}  # falling edge, rising edge, pulse


class Aedat3Reader(PacketReader):
    format = "aedat3"
    counter_names = ("invalid_events", "other_packets", "truncated_packets", "bad_packets", "out_of_bounds")

    def __init__(self, path, chunk_events: int = 1 << 18, width: int | None = None, height: int | None = None):
        super().__init__(path, chunk_events)
        try:
            self.header_lines, end = read_hash_header(self._f, b"#!AER-DAT3", b"#!END-HEADER")
        except ValueError as e:
            self._fail(str(e))
        if not self.header_lines[-1].startswith("#!END-HEADER"):
            self._fail("header has no #!END-HEADER line")
        w, h = sensor_size_from_text("\n".join(self.header_lines))
        self.width, self.height = width or w, height or h
        self._f.seek(end)

    def _next_packet(self):
        f = self._f
        while True:
            head = f.read(_HEADER.size)
            if len(head) < _HEADER.size:
                if head:
                    self._counters[2] += 1
                return None
            typ, _src, esize, _tsoff, tsover, cap, num, _valid = _HEADER.unpack(head)
            nbytes = cap * esize
            if esize <= 0 or cap < 0 or num < 0 or num > cap or nbytes > MAX_PACKET_BYTES:
                self._counters[3] += 1  # a damaged header: the packet boundaries after it are lost
                f.seek(0, 2)
                return None
            body = f.read(nbytes)
            if len(body) < nbytes:
                self._counters[2] += 1
                return None
            if typ == POLARITY_EVENT and esize == 8:
                return self._polarity(body, num, tsover)
            if typ == SPECIAL_EVENT and esize == 8:
                self._special(body, num, tsover)
                continue
            self._counters[1] += 1

    def _polarity(self, body: bytes, num: int, tsover: int) -> np.ndarray:
        rec = np.frombuffer(body, "<u4", count=2 * num).reshape(num, 2)
        data = rec[:, 0]
        ok = (data & 1) == 1
        self._counters[0] += int(num - ok.sum())
        x = (data >> 17) & 0x7FFF
        y = (data >> 2) & 0x7FFF
        if self.width:
            inb = (x < self.width) & (y < self.height)
            self._counters[4] += int((ok & ~inb).sum())
            ok &= inb
        out = np.empty(int(ok.sum()), EVENT_DTYPE)
        out["x"] = x[ok]
        out["y"] = y[ok]
        out["t"] = (np.int64(tsover) << 31) | rec[ok, 1].view(np.int32).astype(np.int64)
        out["p"] = (data[ok] >> 1) & 1
        return out

    def _special(self, body: bytes, num: int, tsover: int) -> None:
        rec = np.frombuffer(body, "<u4", count=2 * num).reshape(num, 2)
        data = rec[:, 0]
        kind = (data >> 1) & 0x7F
        sel = ((data & 1) == 1) & np.isin(kind, list(_EXT_INPUT))
        if sel.any():
            tr = np.empty(int(sel.sum()), TRIGGER_DTYPE)
            tr["t"] = (np.int64(tsover) << 31) | rec[sel, 1].view(np.int32).astype(np.int64)
            tr["id"] = 0
            tr["value"] = [_EXT_INPUT[int(k)] for k in kind[sel]]
            self._keep_triggers(tr)


register_format(FormatSpec("aedat3", "iniVation AEDAT 3.1 (polarity packets)", (), Aedat3Reader,
                           sniff=aedat_sniffer("3"), aliases=("aedat3.1", "aedat31")))
