"""Prophesee RAW EVT 2.0 (32-bit words) and EVT 2.1 (64-bit vectorised words): readers, EVT 2.0 writer.

EVT 2.0 word, type in bits 31-28: CD_OFF 0x0 / CD_ON 0x1 (ts[5:0] 27-22, x 21-11, y 10-0), TIME_HIGH 0x8
(bits 27-0 = t[33:6]), EXT_TRIGGER 0xA (ts[5:0] 27-22, id 12-8, value 0), OTHERS 0xE, CONTINUED 0xF.
EVT 2.1 word (64 bit): type 63-60 (0x0 OFF, 0x1 ON), ts[5:0] 59-54, x base 53-43, y 42-32, bits 31-0 a
validity mask of pixels x..x+31; TIME_HIGH 0x8 (bits 59-32 = t[33:6]); EXT_TRIGGER 0xA (ts 59-54,
id 44-40, value 32). The IMX636 "legacy" layout sends the high 32-bit half first.

The 34-bit time base wraps every ~4.8 h: a TIME_HIGH that falls back by more than half its range counts a
wrap. Events before the first TIME_HIGH, unknown word types and pixels outside the sensor are counted in
`stats` and skipped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.events.blockio import EventFormatError, RelativeTimeWriter
from spikestream.events.io import FormatSpec, register_format
from spikestream.events.rawheader import PercentHeaderReader, evt_sniffer, format_raw_header

# state slots
_TH, _HAVE_TH, _LOOPS, _W, _H = 0, 1, 2, 3, 4
COUNTERS = ("before_time_high", "unknown_words", "out_of_bounds")
_TH_BITS = 28
_HALF = 1 << (_TH_BITS - 1)


@njit(cache=True)
def _time_high(raw, state):
    """Update the unwrapped time-high (t >> 6) from a 28-bit raw value."""
    if state[_HAVE_TH] != 0:
        last = state[_TH] & ((1 << _TH_BITS) - 1)
        if raw < last and last - raw > _HALF:
            state[_LOOPS] += 1
    state[_HAVE_TH] = 1
    state[_TH] = (state[_LOOPS] << _TH_BITS) | raw


@njit(cache=True)
def _decode_evt2(words, state, ox, oy, ot, op, tt, tid, tv, counters):
    # state in locals (registers) inside the loop, written back at the end
    cap = ox.shape[0]
    tcap = tt.shape[0]
    width = state[_W]
    height = state[_H]
    have_th = state[_HAVE_TH] != 0
    th = state[_TH]
    loops = state[_LOOPS]
    tbase = (th << 6) + state[15]  # time of the current TIME_HIGH, t0 included
    n = 0
    nt = 0
    i = 0
    nw = words.shape[0]
    while i < nw:
        if n >= cap or nt >= tcap:
            break
        w = np.int64(words[i])
        i += 1
        typ = w >> 28
        if typ <= 1:
            if have_th:
                x = (w >> 11) & 0x7FF
                y = w & 0x7FF
                if x < width and y < height:
                    ox[n] = x
                    oy[n] = y
                    ot[n] = tbase + ((w >> 22) & 0x3F)
                    op[n] = typ
                    n += 1
                else:
                    counters[2] += 1
            else:
                counters[0] += 1
        elif typ == 0x8:
            raw = w & 0x0FFFFFFF
            if have_th:
                last = th & 0x0FFFFFFF
                if raw < last and last - raw > _HALF:
                    loops += 1
            have_th = True
            th = (loops << _TH_BITS) | raw
            tbase = (th << 6) + state[15]
        elif typ == 0xA:
            if have_th:
                tt[nt] = tbase + ((w >> 22) & 0x3F)
                tid[nt] = (w >> 8) & 0x1F
                tv[nt] = w & 1
                nt += 1
            else:
                counters[0] += 1
        elif typ == 0xE or typ == 0xF:
            pass
        else:
            counters[1] += 1
    state[_TH] = th
    state[_HAVE_TH] = 1 if have_th else 0
    state[_LOOPS] = loops
    return i, n, nt


@njit(cache=True)
def _decode_evt21(words, state, ox, oy, ot, op, tt, tid, tv, counters):
    """`words` are little-endian uint64; in the legacy layout the first 32-bit half is the high half."""
    cap = ox.shape[0]
    tcap = tt.shape[0]
    width = state[_W]
    height = state[_H]
    legacy = state[5]
    n = 0
    nt = 0
    i = 0
    nw = words.shape[0]
    s32 = np.uint64(32)
    m32 = np.uint64(0xFFFFFFFF)
    while i < nw:
        if n + 32 > cap or nt >= tcap:
            break
        w = words[i]
        if legacy != 0:
            hi = np.int64(w & m32)
            lo = np.int64(w >> s32)
        else:
            hi = np.int64(w >> s32)
            lo = np.int64(w & m32)
        typ = hi >> 28
        if typ <= 1:
            if state[_HAVE_TH] == 0:
                counters[0] += 1
            else:
                t = ((state[_TH] << 6) | ((hi >> 22) & 0x3F)) + state[15]
                xb = (hi >> 11) & 0x7FF
                y = hi & 0x7FF
                mask = lo
                b = 0
                while mask != 0:
                    if mask & 0xFF == 0:  # skip empty bytes of the mask
                        mask >>= 8
                        b += 8
                        continue
                    if mask & 1:
                        x = xb + b
                        if x >= width or y >= height:
                            counters[2] += 1
                        else:
                            ox[n] = x
                            oy[n] = y
                            ot[n] = t
                            op[n] = typ
                            n += 1
                    mask >>= 1
                    b += 1
        elif typ == 0x8:
            _time_high(hi & 0x0FFFFFFF, state)
        elif typ == 0xA:
            if state[_HAVE_TH] == 0:
                counters[0] += 1
            else:
                tt[nt] = ((state[_TH] << 6) | ((hi >> 22) & 0x3F)) + state[15]
                tid[nt] = (hi >> 8) & 0x1F
                tv[nt] = hi & 1
                nt += 1
        elif typ == 0xE or typ == 0xF:
            pass
        else:
            counters[1] += 1
        i += 1
    return i, n, nt


class RawHeaderReader(PercentHeaderReader):
    counter_names = COUNTERS

    def _open_header(self) -> int:
        h = self._read_percent_header(_W, _H)  # evt3's state keeps the sensor size in the same slots
        found = h.evt_format()
        if found is not None and found != self.format:
            self._fail(f"header says {found}, not {self.format}")
        return h.end


class RawWriter(RelativeTimeWriter):
    """A Prophesee RAW writer (EVT 2.0, 2.1, 3.0). Times are written relative to the first event; `% t0` in
    the header keeps the origin. Subclasses set the header's ``raw_version`` and ``raw_format``, the
    encoder's ``state_size`` (its int64 state, starting at -1) and implement ``_encode``."""

    max_xy = 2047
    raw_version = raw_format = ""
    state_size = 1

    def __init__(self, path, width=None, height=None):
        super().__init__(path, width, height)
        self._state = np.full(self.state_size, -1, np.int64)

    def _header_options(self) -> str:
        return ""

    def _header(self, t0: int) -> None:
        self._f.write(format_raw_header(self.raw_version, self.raw_format, self.width, self.height, t0,
                                        self._header_options()))


class Evt2Reader(RawHeaderReader):
    format = "evt2"
    word_dtype = np.dtype("<u4")
    max_events_per_word = 1

    def _kernel(self, *a):
        return _decode_evt2(*a)


class Evt21Reader(RawHeaderReader):
    """EVT 2.1. `legacy=None` takes the half order from the header (`endianness=legacy`), else plain LE."""

    format = "evt21"
    word_dtype = np.dtype("<u8")
    max_events_per_word = 32

    def __init__(self, path, chunk_events=1 << 18, block_bytes=1 << 20, legacy: bool | None = None):
        self._legacy_opt = legacy
        super().__init__(path, chunk_events, block_bytes)

    def _open_header(self) -> int:
        end = super()._open_header()
        legacy = self._legacy_opt
        if legacy is None:
            legacy = "legacy" in self.header.keys.get("format", "").lower()
        self._state[5] = int(bool(legacy))
        return end

    def _kernel(self, *a):
        return _decode_evt21(*a)


# ---------------------------------------------------------------------------------------- writer
@njit(cache=True)
def _encode_evt2(x, y, t, p, state, out):
    """state[0] = last written time high (t >> 6) or -1. Emits TIME_HIGH on change, one step at most
    2**26 units forward so that a reader's wrap detection never misfires on long gaps."""
    k = 0
    last = state[0]
    for i in range(x.shape[0]):
        th = t[i] >> 6
        if th != last:
            if last >= 0:
                while th - last > (1 << 26):
                    last += 1 << 26
                    out[k] = (0x8 << 28) | (last & 0x0FFFFFFF)
                    k += 1
            last = th
            out[k] = (0x8 << 28) | (th & 0x0FFFFFFF)
            k += 1
        out[k] = (np.int64(p[i]) << 28) | ((t[i] & 0x3F) << 22) | (np.int64(x[i]) << 11) | np.int64(y[i])
        k += 1
    state[0] = last
    return k


class Evt2Writer(RawWriter):
    """EVT 2.0 writer."""

    format = "evt2"
    raw_version, raw_format = "2.0", "EVT2"

    def _words_needed(self, t: np.ndarray) -> int:
        """Room for the words of events at relative times `t`: an event word and a TIME_HIGH per event, plus
        the TIME_HIGH steps across long gaps."""
        gaps = np.diff(t >> 6, prepend=max(int(self._state[0]), int(t[0] >> 6)))
        return 2 * len(t) + int(np.sum(gaps >> 26)) + 1

    def _encode(self, ev: np.ndarray, t: np.ndarray) -> None:
        out = np.empty(self._words_needed(t), np.uint32)
        k = _encode_evt2(ev["x"], ev["y"], t, ev["p"], self._state, out)
        self._f.write(out[:k].astype("<u4").tobytes())


@njit(cache=True)
def _encode_evt21(x, y, t, p, state, out, legacy):
    """Events with equal t, y, p and increasing x inside one 32-aligned block share a word. `out` is uint64;
    in the legacy layout the high 32-bit half is written first."""
    k = 0
    last = state[0]
    n = x.shape[0]
    i = 0
    while i < n:
        th = t[i] >> 6
        if th != last:
            if last >= 0:
                while th - last > (1 << 26):
                    last += 1 << 26
                    out[k] = _evt21_word((0x8 << 28) | (last & 0x0FFFFFFF), 0, legacy)
                    k += 1
            last = th
            out[k] = _evt21_word((0x8 << 28) | (th & 0x0FFFFFFF), 0, legacy)
            k += 1
        base = np.int64(x[i]) & ~31
        mask = np.int64(0)
        j = i
        while j < n and t[j] == t[i] and y[j] == y[i] and p[j] == p[i] and base <= x[j] < base + 32 \
                and (j == i or x[j] > x[j - 1]):
            mask |= np.int64(1) << (np.int64(x[j]) - base)
            j += 1
        hi = (np.int64(p[i]) << 28) | ((t[i] & 0x3F) << 22) | (base << 11) | np.int64(y[i])
        out[k] = _evt21_word(hi, mask, legacy)
        k += 1
        i = j
    state[0] = last
    return k


@njit(cache=True)
def _evt21_word(hi, lo, legacy):
    if legacy:
        return (np.uint64(lo) << np.uint64(32)) | np.uint64(hi)
    return (np.uint64(hi) << np.uint64(32)) | np.uint64(lo)


class Evt21Writer(Evt2Writer):
    """EVT 2.1 writer (plain 64-bit little-endian words, or `legacy=True` for the IMX636 half order)."""

    format = "evt21"
    raw_version, raw_format = "2.1", "EVT21"

    def __init__(self, path, width=None, height=None, legacy: bool = False):
        self.legacy = bool(legacy)
        super().__init__(path, width, height)

    def _header_options(self) -> str:
        return ";endianness=legacy" if self.legacy else ""

    def _encode(self, ev: np.ndarray, t: np.ndarray) -> None:
        out = np.empty(self._words_needed(t), np.uint64)
        k = _encode_evt21(ev["x"], ev["y"], t, ev["p"], self._state, out, self.legacy)
        self._f.write(out[:k].astype("<u8").tobytes())


register_format(FormatSpec("evt2", "Prophesee RAW EVT 2.0", (".raw",), Evt2Reader, Evt2Writer,
                           sniff=evt_sniffer("evt2"), aliases=("evt2.0",)))
register_format(FormatSpec("evt21", "Prophesee RAW EVT 2.1 (vectorised, 64-bit)", (".raw",), Evt21Reader,
                           Evt21Writer, sniff=evt_sniffer("evt21"), aliases=("evt2.1",)))

__all__ = ["Evt2Reader", "Evt21Reader", "Evt2Writer", "Evt21Writer", "EventFormatError"]
