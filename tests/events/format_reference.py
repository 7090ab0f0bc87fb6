"""Slow plain-Python encoders and decoders written from the format specifications, independently of the
jitted kernels in spikestream.events: encoders build AEDAT 2.0 / 3.1 and EVT 2.1 test files (no installed
peer writes those); decoders are the per-word references the kernels are compared with.
"""

from __future__ import annotations

import struct

import numpy as np

from spikestream.events.dtype import EVENT_DTYPE


def events(x, y, t, p) -> np.ndarray:
    ev = np.empty(len(t), EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def moving_edges(n: int, width: int, height: int, t0: int = 0, rate_mev_s: float = 1.5, seed: int = 0,
                 runs: bool = False) -> np.ndarray:
    """A synthetic recording: a few bars sweeping across the sensor plus background noise, time sorted.
    With `runs`, events of one row at one time come in sorted x runs (what vectorised formats pack)."""
    rng = np.random.default_rng(seed)
    dur = int(n / rate_mev_s)  # us
    t = np.sort(rng.integers(t0, t0 + max(dur, 1), n))
    speed = width / 0.5e6  # px per us: a bar crosses in 0.5 s
    phase = (t - t0) * speed
    edge = (phase + rng.integers(0, 4, n) * width / 4) % width
    x = np.clip(edge + rng.normal(0, 2, n), 0, width - 1).astype(np.int64)
    y = rng.integers(0, height, n)
    noise = rng.random(n) < 0.1
    x[noise] = rng.integers(0, width, noise.sum())
    p = (rng.random(n) < 0.5).astype(np.uint8)
    if runs:
        order = np.lexsort((x, p, y, t))
        x, y, t, p = x[order], y[order], t[order], p[order]
        # dedupe identical (t, y, p, x) so runs are strictly increasing in x
        key = np.stack([t, y, p, x], 1)
        keep = np.ones(len(t), bool)
        keep[1:] = np.any(key[1:] != key[:-1], axis=1)
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    return events(x, y, t, p)


# ------------------------------------------------------------------------------------------ AEDAT 2.0
def encode_aedat2(ev: np.ndarray, layout: str, header: list[str] | None = None, extra_records=()) -> bytes:
    """jAER AEDAT 2.0 from the spec; `extra_records` are (index, address, t) non-DVS records inserted."""
    lines = ["#!AER-DAT2.0", "# This is a raw AE data file - do not edit"]
    lines += header if header is not None else [f"# HardwareInterface: {'DVS128' if layout == 'dvs128' else 'DAVIS346B'}"]
    out = bytearray("".join(ln + "\r\n" for ln in lines).encode("ascii"))
    extra = {i: (a, t) for i, a, t in extra_records}
    for i, e in enumerate(ev):
        if i in extra:
            out += struct.pack(">II", *extra[i])
        x, y, p, t = int(e["x"]), int(e["y"]), int(e["p"]), int(e["t"])
        if layout == "dvs128":
            addr = (y << 8) | (x << 1) | (1 - p)
        else:
            addr = (y << 22) | (x << 12) | (p << 11)
        out += struct.pack(">II", addr, t & 0xFFFFFFFF)
    return bytes(out)


# ------------------------------------------------------------------------------------------ AEDAT 3.1
def encode_aedat31(ev: np.ndarray, source: str = "DAVIS346B", packet_events: int = 1000,
                   invalid_every: int = 0, triggers=()) -> bytes:
    """AEDAT 3.1 polarity packets from the spec. A packet never spans a TSOverflow change. With
    `invalid_every`, every k-th event is written with its valid bit clear. `triggers` are (t, rising)
    special events written as one packet up front."""
    out = bytearray(f"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: {source}\r\n#!END-HEADER\r\n".encode())
    if triggers:
        body = b"".join(struct.pack("<Ii", 1 | ((3 if r else 2) << 1), t & 0x7FFFFFFF) for t, r in triggers)
        out += struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, len(triggers), len(triggers), len(triggers)) + body
    i = 0
    n = len(ev)
    while i < n:
        over = int(ev["t"][i]) >> 31
        j = i
        while j < n and j - i < packet_events and (int(ev["t"][j]) >> 31) == over:
            j += 1
        body = bytearray()
        valid = 0
        for k in range(i, j):
            e = ev[k]
            ok = not (invalid_every and k % invalid_every == invalid_every - 1)
            valid += ok
            data = int(ok) | (int(e["p"]) << 1) | (int(e["y"]) << 2) | (int(e["x"]) << 17)
            body += struct.pack("<Ii", data, int(e["t"]) & 0x7FFFFFFF)
        out += struct.pack("<hhiiiiii", 1, 1, 8, 4, over, j - i, j - i, valid) + body
        i = j
    return bytes(out)


# ------------------------------------------------------------------------------------------ EVT 2.1
def encode_evt21(ev: np.ndarray, width: int, height: int, legacy: bool = False) -> bytes:
    """EVT 2.1 from the spec: events with equal t, y, p and x in one 32-aligned block share a word."""
    fmt = f"EVT21;width={width};height={height}" + (";endianness=legacy" if legacy else "")
    out = bytearray(f"% evt 2.1\n% format {fmt}\n% end\n".encode())

    def word(v):
        hi, lo = v >> 32, v & 0xFFFFFFFF
        return struct.pack("<II", hi, lo) if legacy else struct.pack("<Q", v)

    last_th = None
    i = 0
    n = len(ev)
    while i < n:
        t, y, p, x = int(ev["t"][i]), int(ev["y"][i]), int(ev["p"][i]), int(ev["x"][i])
        if t >> 6 != last_th:
            last_th = t >> 6
            out += word((0x8 << 60) | ((last_th & 0x0FFFFFFF) << 32))
        base = x - x % 32
        mask = 0
        j = i
        while j < n and int(ev["t"][j]) == t and int(ev["y"][j]) == y and int(ev["p"][j]) == p \
                and base <= int(ev["x"][j]) < base + 32 and (j == i or ev["x"][j] > ev["x"][j - 1]):
            mask |= 1 << (int(ev["x"][j]) - base)
            j += 1
        out += word((p << 60) | ((t & 0x3F) << 54) | (base << 43) | (y << 32) | mask)
        i = j
    return bytes(out)


# ------------------------------------------------------------------------------------------ decoders
def decode_evt2_words(words, width=1 << 16, height=1 << 16):
    """Per-word EVT 2.0 reference: (events list of (x, y, t, p), triggers list of (t, id, value), counters)."""
    return _decode_evt2_halves(((int(w), 1) for w in words), width, height)


def decode_evt21_words(words, width=1 << 16, height=1 << 16):
    """Per-word EVT 2.1 reference on 64-bit words (already in high/low order): the high half is laid out as an
    EVT 2.0 word whose x is the base of the low half's validity mask (pixels base..base+31)."""
    return _decode_evt2_halves(((int(w) >> 32, int(w) & 0xFFFFFFFF) for w in words), width, height)


def _decode_evt2_halves(pairs, width, height):
    """(EVT 2.0 word, pixel mask) pairs; an EVT 2.0 event is its word with mask 1."""
    ev, trig = [], []
    c = {"before_time_high": 0, "unknown_words": 0, "out_of_bounds": 0}
    th = None
    loops = 0
    for w, mask in pairs:
        typ = w >> 28
        if typ in (0, 1):
            if th is None:
                c["before_time_high"] += 1
                continue
            t = (((loops << 28) + th) << 6) + ((w >> 22) & 0x3F)
            xb, y = (w >> 11) & 0x7FF, w & 0x7FF
            for b in range(32):
                if (mask >> b) & 1:
                    if xb + b >= width or y >= height:
                        c["out_of_bounds"] += 1
                    else:
                        ev.append((xb + b, y, t, typ))
        elif typ == 8:
            raw = w & 0x0FFFFFFF
            if th is not None and raw < th and th - raw > 1 << 27:
                loops += 1
            th = raw
        elif typ == 0xA:
            if th is None:
                c["before_time_high"] += 1
                continue
            trig.append(((((loops << 28) + th) << 6) + ((w >> 22) & 0x3F), (w >> 8) & 0x1F, w & 1))
        elif typ not in (0xE, 0xF):
            c["unknown_words"] += 1
    return ev, trig, c


def decode_evt3_words(words, width=1 << 16, height=1 << 16):
    """Per-word EVT 3.0 reference, same outputs as `decode_evt2_words`."""
    ev, trig = [], []
    c = {"before_time_high": 0, "before_addr_y": 0, "vector_without_base": 0, "unknown_words": 0,
         "out_of_bounds": 0}
    th = None
    loops = 0
    tl = 0
    y = None
    base = None
    bp = 0

    def emit(x, t, p):
        if x >= width or y >= height:
            c["out_of_bounds"] += 1
        else:
            ev.append((x, y, t, p))

    for w in words:
        w = int(w)
        typ = w >> 12
        if typ == 6:
            tl = w & 0xFFF
        elif typ == 8:
            raw = w & 0xFFF
            if th is not None and raw < th and th - raw > 2048:
                loops += 1
            th = raw
        elif typ == 0:
            y = w & 0x7FF
        elif typ in (2, 4, 5):
            if th is None:
                c["before_time_high"] += 1
                continue
            if y is None:
                c["before_addr_y"] += 1
                continue
            t = (((loops << 12) + th) << 12) + tl
            if typ == 2:
                emit(w & 0x7FF, t, (w >> 11) & 1)
                continue
            if base is None:
                c["vector_without_base"] += 1
                continue
            nb = 12 if typ == 4 else 8
            for b in range(nb):
                if (w >> b) & 1:
                    emit(base + b, t, bp)
            base += nb
        elif typ == 3:
            base, bp = w & 0x7FF, (w >> 11) & 1
        elif typ == 0xA:
            if th is None:
                c["before_time_high"] += 1
                continue
            trig.append(((((loops << 12) + th) << 12) + tl, (w >> 8) & 0xF, w & 1))
        elif typ not in (7, 0xE, 0xF):
            c["unknown_words"] += 1
    return ev, trig, c


def as_events(rows) -> np.ndarray:
    a = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return events(a[:, 0], a[:, 1], a[:, 2], a[:, 3])
