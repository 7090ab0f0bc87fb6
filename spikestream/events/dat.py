"""Prophesee DAT: `%` header (`% Version 2`, `% Width`, `% Height`, optional `% T0`), then one byte event
type and one byte event size (8), then records [uint32 t (us)][uint32: x bits 0-13, y 14-27, polarity 28].

The 32-bit time wraps every 71.6 min: a time that falls back by more than half the range counts a wrap.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikestream.events.blockio import RelativeTimeWriter
from spikestream.events.io import FormatSpec, register_format
from spikestream.events.rawheader import PercentHeaderReader, format_percent_header, percent_header

_LAST, _HAVE, _LOOPS, _W, _H = range(5)
COUNTERS = ("out_of_bounds",)


@njit(cache=True)
def _decode_dat(words, state, ox, oy, ot, op, tt, tid, tv, counters):
    cap = ox.shape[0]
    nw = words.shape[0]
    n = 0
    i = 0
    s32 = np.uint64(32)
    m32 = np.uint64(0xFFFFFFFF)
    while i < nw and n < cap:
        traw = np.int64(words[i] & m32)
        d = np.int64(words[i] >> s32)
        i += 1
        if state[_HAVE] != 0 and traw < state[_LAST] and state[_LAST] - traw > (1 << 31):
            state[_LOOPS] += 1
        state[_HAVE] = 1
        state[_LAST] = traw
        x = d & 0x3FFF
        y = (d >> 14) & 0x3FFF
        if x >= state[_W] or y >= state[_H]:
            counters[0] += 1
            continue
        ox[n] = x
        oy[n] = y
        ot[n] = ((state[_LOOPS] << 32) | traw) + state[15]
        op[n] = (d >> 28) & 1
        n += 1
    return i, n, 0


class DatReader(PercentHeaderReader):
    format = "dat"
    counter_names = COUNTERS
    word_dtype = np.dtype("<u8")  # one record: low half t, high half x/y/p

    def _open_header(self) -> int:
        h = self._read_percent_header(_W, _H)
        typ_size = self._f.read(2)
        end = h.end
        if len(typ_size) == 2 and typ_size[1] == 8:
            end += 2
        elif len(typ_size) == 2 and "version" in h.keys and h.keys["version"].strip() not in ("", "1"):
            self._fail(f"event size byte is {typ_size[1]}, expected 8")
        return end

    def _kernel(self, *a):
        return _decode_dat(*a)


class DatWriter(RelativeTimeWriter):
    format = "dat"
    max_xy = 0x3FFF

    def _header(self, t0: int) -> None:
        lines = ["Version 2"]
        if self.width and self.height:
            lines += [f"Width {self.width}", f"Height {self.height}"]
        lines += [f"T0 {t0}"]
        self._f.write(format_percent_header(lines) + bytes([0x0C, 8]))

    def _encode(self, ev: np.ndarray, t: np.ndarray) -> None:
        if t[-1] >= 1 << 32:
            raise ValueError("DAT stores 32-bit times: recording longer than 71 min after its first event")
        rec = np.empty((len(ev), 2), "<u4")
        rec[:, 0] = t
        rec[:, 1] = (ev["x"].astype(np.uint32) | (ev["y"].astype(np.uint32) << 14)
                     | (ev["p"].astype(np.uint32) << 28))
        self._f.write(rec.tobytes())


def _sniff_dat(probe) -> bool:
    """A `%` header that names no EVT format, with a DAT key (Version, Height) or a .dat name."""
    h = percent_header(probe)
    return h is not None and h.evt_format() is None and (probe.ext == ".dat" or "version" in h.keys
                                                          or "height" in h.keys)


register_format(FormatSpec("dat", "Prophesee DAT (CD events)", (".dat",), DatReader, DatWriter, sniff=_sniff_dat))
