"""The few FlatBuffers operations AEDAT 4 needs, by hand: read table fields, strings and struct vectors;
build a table of scalars, one string and one struct vector. Every offset is bounds-checked: a damaged
buffer raises `FlatBufferError`, never reads outside the buffer.
"""

from __future__ import annotations

import struct


class FlatBufferError(ValueError):
    pass


def _u32(buf, pos: int) -> int:
    if pos < 0 or pos + 4 > len(buf):
        raise FlatBufferError(f"offset {pos} outside a {len(buf)}-byte buffer")
    return struct.unpack_from("<I", buf, pos)[0]


class Table:
    """A FlatBuffers table at byte position `pos` of `buf`."""

    def __init__(self, buf, pos: int):
        self.buf = buf
        self.pos = pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0] if 0 <= pos <= len(buf) - 4 else -1
        if vt < 0 or vt + 4 > len(buf):
            raise FlatBufferError("table vtable outside the buffer")
        self.vt = vt
        self.vt_size = struct.unpack_from("<H", buf, vt)[0]
        if self.vt_size < 4 or vt + self.vt_size > len(buf):
            raise FlatBufferError("bad vtable size")

    @classmethod
    def root(cls, buf, start: int = 0) -> "Table":
        return cls(buf, start + _u32(buf, start))

    def _field(self, i: int) -> int:
        o = 4 + 2 * i
        if o + 2 > self.vt_size:
            return 0
        off = struct.unpack_from("<H", self.buf, self.vt + o)[0]
        return self.pos + off if off else 0

    def scalar(self, i: int, fmt: str, default):
        p = self._field(i)
        if not p:
            return default
        if p + struct.calcsize(fmt) > len(self.buf):
            raise FlatBufferError("scalar outside the buffer")
        return struct.unpack_from("<" + fmt, self.buf, p)[0]

    def _indirect(self, i: int) -> int | None:
        p = self._field(i)
        if not p:
            return None
        return p + _u32(self.buf, p)

    def string(self, i: int) -> str | None:
        p = self._indirect(i)
        if p is None:
            return None
        n = _u32(self.buf, p)
        if p + 4 + n > len(self.buf):
            raise FlatBufferError("string outside the buffer")
        return bytes(self.buf[p + 4:p + 4 + n]).decode("utf-8", "replace")

    def tables(self, i: int) -> list["Table"]:
        """The tables of a vector-of-tables field (empty if absent)."""
        p, n = self.vector(i, 4)
        return [Table(self.buf, p + 4 * k + _u32(self.buf, p + 4 * k)) for k in range(n)]

    def vector(self, i: int, elem_size: int) -> tuple[int, int]:
        """(byte position of the first element, element count) of a vector of structs; (0, 0) if absent."""
        p = self._indirect(i)
        if p is None:
            return 0, 0
        n = _u32(self.buf, p)
        if p + 4 + n * elem_size > len(self.buf):
            raise FlatBufferError("vector outside the buffer")
        return p + 4, n


def build_table(scalars: list[tuple[str, object] | None], identifier: bytes = b"",
                string: tuple[int, str] | None = None, vector: tuple[int, bytes, int, int] | None = None,
                size_prefixed: bool = False) -> bytes:
    """A minimal builder: one root table whose fields are scalars (struct format, value) by index, plus
    optionally one string field (index, text) and one struct-vector field (index, raw bytes, count,
    alignment). Layout: [size][root][ident][pad][vtable][table][string][vector]."""
    nfields = len(scalars)
    for extra in (string, vector):
        if extra is not None:
            nfields = max(nfields, extra[0] + 1)
    # table body: soffset + fields, each 8-byte aligned for simplicity
    body = bytearray(b"\0\0\0\0")
    offsets = [0] * nfields
    for i, sc in enumerate(scalars):
        if sc is None:
            continue
        fmt, val = sc
        while len(body) % struct.calcsize(fmt):
            body += b"\0"
        offsets[i] = len(body)
        body += struct.pack("<" + fmt, val)
    ref_slots = {}
    for extra in (string, vector):
        if extra is not None:
            while len(body) % 4:
                body += b"\0"
            offsets[extra[0]] = len(body)
            ref_slots[extra[0]] = len(body)
            body += b"\0\0\0\0"
    while len(body) % 8:
        body += b"\0"
    vtable = struct.pack("<HH", 4 + 2 * nfields, len(body)) + b"".join(struct.pack("<H", o) for o in offsets)
    head = 4 + (4 if size_prefixed else 0) + len(identifier)
    pre = head
    vt_pos = (pre + 1) // 2 * 2
    table_pos = vt_pos + len(vtable)
    table_pos = (table_pos + 7) // 8 * 8
    vt_pos = table_pos - len(vtable)
    out = bytearray(table_pos + len(body))
    base = 4 if size_prefixed else 0
    struct.pack_into("<I", out, base, table_pos - base)
    out[base + 4:base + 4 + len(identifier)] = identifier
    out[vt_pos:vt_pos + len(vtable)] = vtable
    out[table_pos:table_pos + len(body)] = body
    struct.pack_into("<i", out, table_pos, table_pos - vt_pos)
    if string is not None:
        idx, text = string
        data = text.encode("utf-8")
        while len(out) % 4:
            out += b"\0"
        spos = len(out)
        out += struct.pack("<I", len(data)) + data + b"\0"
        slot = table_pos + ref_slots[idx]
        struct.pack_into("<I", out, slot, spos - slot)
    if vector is not None:
        idx, raw, count, align = vector
        while (len(out) + 4) % max(align, 4):
            out += b"\0"
        vpos = len(out)
        out += struct.pack("<I", count) + raw
        slot = table_pos + ref_slots[idx]
        struct.pack_into("<I", out, slot, vpos - slot)
    while len(out) % 4:
        out += b"\0"
    if size_prefixed:
        struct.pack_into("<I", out, 0, len(out) - 4)
    return bytes(out)
