"""jAER AEDAT 2.0: `#` text header (first line `#!AER-DAT2.0`), then big-endian records
[uint32 address][uint32 t (us)].

Layouts: DVS128 — polarity bit 0 (1 = OFF, as jAER reads it), x bits 1-7, y bits 8-14; DAVIS — a DVS event
when bits 31 and 10 are clear, y bits 22-30, x bits 12-21, polarity bit 11 (1 = ON); other DAVIS records
(APS samples, IMU, special events) are counted in stats and skipped. The layout comes from the header
(a `DVS128` or `DAVIS` chip class), or pass ``layout=``. x and y are the raw address fields: jAER puts the
origin bottom-left, so pass ``flip_y=True`` for top-left image rows (needs the height). The 32-bit time
wraps every 71.6 min and is unwrapped.
"""

from __future__ import annotations


import numpy as np
from numba import njit

from spikestream.events.blockio import WordReader
from spikestream.events.io import FormatSpec, register_format

_LAST, _HAVE, _LOOPS, _W, _H, _DAVIS, _FLIPY = range(7)
COUNTERS = ("non_dvs_records", "out_of_bounds")
SENSOR_SIZES = {"DVS128": (128, 128), "DAVIS240": (240, 180), "DAVIS346": (346, 260), "DAVIS640": (640, 480),
                "DVXPLORER": (640, 480), "DAVIS128": (128, 128)}
MAX_HEADER_BYTES = 1 << 20


@njit(cache=True)
def _bswap32(v):
    return ((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | ((v >> 24) & 0xFF)


@njit(cache=True)
def _decode_aedat2(words, state, ox, oy, ot, op, tt, tid, tv, counters):
    """`words` are the 8-byte records read as little-endian uint64 (so both halves need a byte swap)."""
    cap = ox.shape[0]
    nw = words.shape[0]
    s32 = np.uint64(32)
    m32 = np.uint64(0xFFFFFFFF)
    n = 0
    i = 0
    while i < nw and n < cap:
        w = words[i]
        i += 1
        a = _bswap32(np.int64(w & m32))
        traw = _bswap32(np.int64(w >> s32))
        if state[_HAVE] != 0 and traw < state[_LAST] and state[_LAST] - traw > (1 << 31):
            state[_LOOPS] += 1
        state[_HAVE] = 1
        state[_LAST] = traw
        if state[_DAVIS] != 0:
            if (a >> 31) & 1 or (a >> 10) & 1:
                counters[0] += 1
                continue
            y = (a >> 22) & 0x1FF
            x = (a >> 12) & 0x3FF
            p = (a >> 11) & 1
        else:
            if (a >> 15) != 0:
                counters[0] += 1
                continue
            y = (a >> 8) & 0x7F
            x = (a >> 1) & 0x7F
            p = 1 - (a & 1)
        if x >= state[_W] or y >= state[_H]:
            counters[1] += 1
            continue
        if state[_FLIPY] != 0:
            y = state[_H] - 1 - y
        ox[n] = x
        oy[n] = y
        ot[n] = ((state[_LOOPS] << 32) | traw) + state[15]
        op[n] = p
        n += 1
    return i, n, 0


def read_hash_header(f, first_line: bytes, end_line: bytes | None = None) -> tuple[list[str], int]:
    """Lines starting with '#' (the first must start with `first_line`); stop after `end_line` if given,
    else at the first line that is not a printable '#' line. Returns (lines, data offset)."""
    f.seek(0)
    lines: list[str] = []
    pos = 0
    while pos < MAX_HEADER_BYTES:
        c = f.read(1)
        if c != b"#":
            break
        line = c + f.readline(4096)
        if not line.endswith(b"\n") or any(b < 9 or b == 127 for b in line[:-1]):
            break
        pos += len(line)
        lines.append(line.decode("latin1").rstrip("\r\n"))
        if end_line is not None and line.startswith(end_line):
            break
    if not lines or not lines[0].encode("latin1").startswith(first_line):
        raise ValueError(f"missing {first_line.decode()} header line")
    f.seek(pos)
    return lines, pos


def aedat_sniffer(major: str):
    """An AEDAT format's sniff: the file starts `#!AER-DAT<major>`; another AEDAT version gets the message
    that no format reads it (used when no other format claims the file)."""

    def sniff(probe) -> bool | str:
        if not probe.head.startswith(b"#!AER-DAT"):
            return False
        version = probe.head[9:].split(b"\r")[0].split(b"\n")[0].decode("ascii", "replace")
        return True if version.startswith(major) else f"unsupported AEDAT version {version!r}"

    return sniff


def sensor_size_from_text(text: str) -> tuple[int | None, int | None]:
    up = text.upper().replace("_", "")
    for name, size in SENSOR_SIZES.items():
        if name in up:
            return size
    return None, None


class Aedat2Reader(WordReader):
    format = "aedat2"
    counter_names = COUNTERS
    word_dtype = np.dtype("<u8")

    def __init__(self, path, chunk_events=1 << 18, block_bytes=1 << 20, layout: str | None = None,
                 flip_y: bool = False, width: int | None = None, height: int | None = None):
        if layout not in (None, "dvs128", "davis"):
            raise ValueError(f"layout must be 'dvs128' or 'davis', got {layout!r}")
        self._opts = (layout, bool(flip_y), width, height)
        super().__init__(path, chunk_events, block_bytes)

    def _open_header(self) -> int:
        layout, flip_y, width, height = self._opts
        try:
            self.header_lines, end = read_hash_header(self._f, b"#!AER-DAT2")
        except ValueError as e:
            self._fail(str(e))
        text = "\n".join(self.header_lines)
        if layout is None:
            up = text.upper()
            layout = "davis" if "DAVIS" in up else "dvs128" if "DVS128" in up else None
        if layout is None:
            layout = self._guess_layout(end)
        self.layout = layout
        w, h = sensor_size_from_text(text)
        if layout == "dvs128":
            w, h = 128, 128
        self.width, self.height = width or w, height or h
        if flip_y and not self.height:
            self._fail("flip_y needs the sensor height: pass height=")
        self._state[_W] = self.width or 1 << 16
        self._state[_H] = self.height or 1 << 16
        self._state[_DAVIS] = int(layout == "davis")
        self._state[_FLIPY] = int(flip_y)
        return end

    def _guess_layout(self, end: int) -> str:
        """Without a chip class in the header: DAVIS if any of the first records uses bits above 15."""
        self._f.seek(end)
        raw = self._f.read(8 * 4096)
        a = np.frombuffer(raw[: len(raw) // 8 * 8], ">u4")[0::2]
        return "davis" if np.any(a >> 15) else "dvs128"

    def _kernel(self, *a):
        return _decode_aedat2(*a)


register_format(FormatSpec("aedat2", "jAER AEDAT 2.0 (DVS128, DAVIS)", (".aedat",), Aedat2Reader,
                           sniff=aedat_sniffer("2"), aliases=("aedat2.0", "aedat")))
