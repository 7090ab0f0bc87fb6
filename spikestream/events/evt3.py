"""Prophesee RAW EVT 3.0 (16-bit stateful words): reader and vectorising writer.

Word types (bits 15-12): ADDR_Y 0x0 (y 10-0), ADDR_X 0x2 (one event: polarity 11, x 10-0), VECT_BASE_X 0x3
(polarity 11, base x 10-0), VECT_12 0x4 (mask 11-0, then base += 12), VECT_8 0x5 (mask 7-0, base += 8),
TIME_LOW 0x6 (t[11:0]), CONTINUED_4 0x7, TIME_HIGH 0x8 (t[23:12]), EXT_TRIGGER 0xA (id 11-8, value 0),
OTHERS 0xE, CONTINUED_12 0xF.

The 24-bit time base wraps every 16.78 s: a TIME_HIGH that falls back by more than half its range counts
a wrap. Protocol violations are counted in `stats` and skipped, never fatal: events before the first
TIME_HIGH, events before the first ADDR_Y, vectors before a VECT_BASE_X, reserved word types, pixels
outside the sensor.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.events.evt2 import RawHeaderReader, RawWriter
from spikestream.events.io import FormatSpec, register_format
from spikestream.events.rawheader import evt_sniffer

# state slots
_TH, _HAVE_TH, _LOOPS, _W, _H, _TL, _Y, _HAVE_Y, _BASE, _BASE_P, _HAVE_BASE = range(11)
COUNTERS = ("before_time_high", "before_addr_y", "vector_without_base", "unknown_words", "out_of_bounds")


@njit(cache=True)
def _decode_evt3(words, state, ox, oy, ot, op, tt, tid, tv, counters):
    # the decoder state lives in locals inside the loop (kept in registers) and goes back to `state` at the end
    cap = ox.shape[0]
    tcap = tt.shape[0]
    width = state[_W]
    height = state[_H]
    th = state[_TH]
    have_th = state[_HAVE_TH] != 0
    loops = state[_LOOPS]
    tl = state[_TL]
    y = state[_Y]
    have_y = state[_HAVE_Y] != 0
    base = state[_BASE]
    bp = state[_BASE_P]
    have_base = state[_HAVE_BASE] != 0
    t0 = state[15]
    t = ((th << 12) | tl) + t0
    n = 0
    nt = 0
    i = 0
    nw = words.shape[0]
    while i < nw:
        if n + 12 > cap or nt >= tcap:
            break
        w = np.int64(words[i])
        typ = w >> 12
        i += 1
        if typ == 0x2:  # ADDR_X: one event
            if have_th and have_y:
                x = w & 0x7FF
                if x < width and y < height:
                    ox[n] = x
                    oy[n] = y
                    ot[n] = t
                    op[n] = (w >> 11) & 1
                    n += 1
                else:
                    counters[4] += 1
            elif not have_th:
                counters[0] += 1
            else:
                counters[1] += 1
        elif typ == 0x6:  # TIME_LOW
            tl = w & 0xFFF
            t = ((th << 12) | tl) + t0
        elif typ == 0x0:  # ADDR_Y
            y = w & 0x7FF
            have_y = True
        elif typ == 0x4 or typ == 0x5:  # VECT_12 / VECT_8
            if not have_th:
                counters[0] += 1
            elif not have_y:
                counters[1] += 1
            elif not have_base:
                counters[2] += 1
            else:
                if typ == 0x4:
                    mask = w & 0xFFF
                    step = 12
                else:
                    mask = w & 0xFF
                    step = 8
                if y >= height:
                    while mask != 0:
                        counters[4] += mask & 1
                        mask >>= 1
                x = base
                while mask != 0:
                    if mask & 1:
                        if x < width:
                            ox[n] = x
                            oy[n] = y
                            ot[n] = t
                            op[n] = bp
                            n += 1
                        else:
                            counters[4] += 1
                    mask >>= 1
                    x += 1
                base += step
        elif typ == 0x3:  # VECT_BASE_X
            base = w & 0x7FF
            bp = (w >> 11) & 1
            have_base = True
        elif typ == 0x8:  # TIME_HIGH
            raw = w & 0xFFF
            if have_th and raw < (th & 0xFFF) and (th & 0xFFF) - raw > 2048:
                loops += 1
            have_th = True
            th = (loops << 12) | raw
            t = ((th << 12) | tl) + t0
        elif typ == 0xA:  # EXT_TRIGGER
            if not have_th:
                counters[0] += 1
            else:
                tt[nt] = t
                tid[nt] = (w >> 8) & 0xF
                tv[nt] = w & 1
                nt += 1
        elif typ == 0x7 or typ == 0xE or typ == 0xF:
            pass
        else:
            counters[3] += 1
    state[_TH] = th
    state[_HAVE_TH] = 1 if have_th else 0
    state[_LOOPS] = loops
    state[_TL] = tl
    state[_Y] = y
    state[_HAVE_Y] = 1 if have_y else 0
    state[_BASE] = base
    state[_BASE_P] = bp
    state[_HAVE_BASE] = 1 if have_base else 0
    return i, n, nt


class Evt3Reader(RawHeaderReader):
    format = "evt3"
    counter_names = COUNTERS
    word_dtype = np.dtype("<u2")
    max_events_per_word = 12

    def _kernel(self, *a):
        return _decode_evt3(*a)


# ---------------------------------------------------------------------------------------- writer
_STEP = 1  # TIME_HIGH words written every 4096 us across gaps, as a sensor does (faery and OpenEB expect it)


@njit(cache=True)
def _run_end(x, y, t, p, i):
    """End of the run from i with equal t, y, p and strictly increasing x."""
    j = i + 1
    while j < x.shape[0] and t[j] == t[i] and y[j] == y[i] and p[j] == p[i] and x[j] > x[j - 1]:
        j += 1
    return j


@njit(cache=True)
def _encode_evt3(x, y, t, p, state, out):
    """state: [last time high (t >> 12) or -1, last time low or -1, last y or -1]. Runs of three or more
    events with equal t, y, p and increasing x become VECT_BASE_X + VECT_12 words."""
    k = 0
    n = x.shape[0]
    i = 0
    while i < n:
        th = t[i] >> 12
        last = state[0]
        if th != last:
            if last >= 0:
                while th - last > _STEP:
                    last += _STEP
                    out[k] = (0x8 << 12) | (last & 0xFFF)
                    k += 1
            out[k] = (0x8 << 12) | (th & 0xFFF)
            k += 1
            state[0] = th
            state[1] = -1
        tl = t[i] & 0xFFF
        if tl != state[1]:
            out[k] = (0x6 << 12) | tl
            k += 1
            state[1] = tl
        if y[i] != state[2]:
            out[k] = np.int64(y[i])
            k += 1
            state[2] = y[i]
        j = _run_end(x, y, t, p, i)
        if j - i < 3:
            for m in range(i, j):
                out[k] = (0x2 << 12) | (np.int64(p[m]) << 11) | np.int64(x[m])
                k += 1
        else:
            m = i
            base = np.int64(x[i])
            out[k] = (0x3 << 12) | (np.int64(p[i]) << 11) | base
            k += 1
            while m < j:
                if x[m] - base >= 24:  # a wide gap: re-base rather than emit empty vectors
                    base = np.int64(x[m])
                    out[k] = (0x3 << 12) | (np.int64(p[i]) << 11) | base
                    k += 1
                mask = 0
                while m < j and x[m] < base + 12:
                    mask |= 1 << (x[m] - base)
                    m += 1
                out[k] = (0x4 << 12) | mask
                k += 1
                base += 12
        i = j
    return k


class Evt3Writer(RawWriter):
    """EVT 3.0 writer."""

    format = "evt3"
    raw_version, raw_format, state_size = "3.0", "EVT3", 3

    def _encode(self, ev: np.ndarray, t: np.ndarray) -> None:
        th = t >> 12
        gaps = np.diff(th, prepend=max(int(self._state[0]), int(th[0])))
        extra = int(np.sum(gaps // _STEP)) + 1
        out = np.empty(6 * len(ev) + extra + 8, np.uint16)
        k = _encode_evt3(ev["x"], ev["y"], t, ev["p"], self._state, out)
        self._f.write(out[:k].astype("<u2").tobytes())


register_format(FormatSpec("evt3", "Prophesee RAW EVT 3.0", (".raw",), Evt3Reader, Evt3Writer,
                           sniff=evt_sniffer("evt3"), aliases=("evt3.0", "raw"), default_writer=True))
