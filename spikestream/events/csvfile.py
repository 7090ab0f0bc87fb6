"""Text event files (CSV or whitespace separated), as faery, tonic and many datasets write them.

Reader: an optional header line names the columns (`t`/`timestamp`, `x`, `y`, `p`/`polarity`/`on`; faery's
`x@640,y@480` also gives the sensor size); without one the order is t, x, y, p (or pass ``columns=``).
Times are microseconds unless ``t_scale`` says otherwise (``t_scale=1e6`` for seconds). Polarity > 0 is ON
(so -1/1 and 0/1 both work). Blocks of whole lines are parsed by numpy; a block with a bad line falls
back to line by line and counts the bad lines. Writer: faery's layout, header ``t,x@W,y@H,on``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
from numba import njit

from spikestream.events.blockio import DEFAULT_BLOCK_BYTES, DEFAULT_CHUNK_EVENTS, EventWriter, PacketReader
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import FormatSpec, register_format

_ALIASES = {"t": "t", "ts": "t", "timestamp": "t", "time": "t", "x": "x", "y": "y", "p": "p", "on": "p",
            "pol": "p", "polarity": "p"}
_SEPS = re.compile(rb"[,;\t]")
MAX_LINE_BYTES = 4096


@njit(cache=True)
def _parse_int_rows(buf, rows):
    """Parse lines of integer fields (separators , ; tab space; CR ignored) into rows[n, ncols]. Lines with
    the wrong field count or stray characters are skipped and counted. Returns (n, bad), or (-1, 0) when
    a field holds a decimal point or exponent (the caller then parses floats)."""
    ncols = rows.shape[1]
    n = 0
    bad = 0
    i = 0
    m = buf.shape[0]
    while i < m:
        col = 0
        ok = True
        empty = True
        while i < m and buf[i] != 10:
            c = buf[i]
            if c == 44 or c == 59 or c == 9 or c == 32 or c == 13:
                i += 1
                continue
            empty = False
            neg = False
            if c == 45:
                neg = True
                i += 1
            v = 0
            nd = 0
            while i < m and 48 <= buf[i] <= 57:
                v = v * 10 + (buf[i] - 48)
                nd += 1
                i += 1
            if i < m and (buf[i] == 46 or buf[i] == 101 or buf[i] == 69):
                return -1, 0
            if nd == 0 or nd > 18 or (i < m and not (buf[i] == 44 or buf[i] == 59 or buf[i] == 9
                                                    or buf[i] == 32 or buf[i] == 13 or buf[i] == 10)):
                ok = False
                while i < m and buf[i] != 10:
                    i += 1
                break
            if col < ncols:
                rows[n, col] = -v if neg else v
            col += 1
        i += 1
        if empty and ok:
            continue
        if ok and col == ncols:
            n += 1
        else:
            bad += 1
    return n, bad


class CsvReader(PacketReader):
    format = "csv"
    counter_names = ("bad_lines", "out_of_bounds")

    def __init__(self, path, chunk_events: int = DEFAULT_CHUNK_EVENTS, block_bytes: int = DEFAULT_BLOCK_BYTES,
                 columns: str | None = None, t_scale: float = 1.0, width: int | None = None,
                 height: int | None = None):
        super().__init__(path, chunk_events)
        if int(block_bytes) < 1 or not t_scale > 0:
            self._fail("block_bytes must be >= 1 and t_scale > 0")
        self._block = max(int(block_bytes), MAX_LINE_BYTES)
        self.t_scale = float(t_scale)
        self.width, self.height = width, height
        first = self._f.readline(MAX_LINE_BYTES)
        names = None
        if re.search(rb"[A-DF-Za-df-z_@]", first):  # letters other than an exponent's e: a header
            names, sizes = self._parse_header(first.decode("ascii", "replace"))
            if width is None and height is None and sizes:
                self.width, self.height = sizes.get("x"), sizes.get("y")
        else:
            self._f.seek(0)
        if columns is not None:
            names = [_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in columns.split(",")]
        names = names or ["t", "x", "y", "p"]
        missing = {"t", "x", "y", "p"} - set(names)
        if missing:
            self._fail(f"columns {names} lack {sorted(missing)}; pass columns='t,x,y,p' (in file order)")
        self._cols = [names.index(k) for k in ("t", "x", "y", "p")]
        self._ncols = len(names)
        self._rest = b""
        self._eof = False

    def _parse_header(self, line: str):
        names, sizes = [], {}
        for raw in re.split(r"[,;\t ]+", line.strip()):
            if not raw:
                continue
            name, _, size = raw.partition("@")
            key = _ALIASES.get(name.strip().lower(), name.strip().lower())
            names.append(key)
            if size.strip().isdigit():
                sizes[key] = int(size)
        return names, sizes

    def _next_packet(self):
        while True:
            if self._eof:
                return None
            data = self._f.read(self._block)
            if not data:
                self._eof = True
                data, self._rest = self._rest, b""
                if not data.strip():
                    return None
            else:
                data = self._rest + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    if len(data) > 16 * MAX_LINE_BYTES:  # no line end at all: not a text event file
                        self._counters[0] += 1
                        self._rest = b""
                        continue
                    self._rest = data
                    continue
                data, self._rest = data[:cut + 1], data[cut + 1:]
            return self._parse(data)

    def _parse(self, data: bytes) -> np.ndarray:
        rows = np.empty((data.count(b"\n") + 1, self._ncols), np.int64)
        n, bad = _parse_int_rows(np.frombuffer(data, np.uint8), rows)
        if n >= 0:  # integers only: the jitted parser did it all
            self._counters[0] += bad
            return self._to_events(rows[:n])
        text = _SEPS.sub(b" ", data)  # decimals or exponents somewhere: numpy's float parser, then lines
        nlines = text.count(b"\n") + (0 if text.endswith(b"\n") else 1) - text.count(b"\n\n")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                vals = np.fromstring(text, dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning):
                vals = None
        if vals is None or len(vals) != nlines * self._ncols:
            vals = self._parse_lines(text)
        return self._to_events(vals.reshape(-1, self._ncols))

    def _parse_lines(self, text: bytes) -> np.ndarray:
        rows = []
        for ln in text.split(b"\n"):
            parts = ln.split()
            if not parts:
                continue
            try:
                vals = [float(v) for v in parts]
            except ValueError:
                vals = []
            if len(vals) != self._ncols:
                self._counters[0] += 1
                continue
            rows.append(vals)
        return np.array(rows, np.float64).reshape(-1, self._ncols)

    def _to_events(self, rows: np.ndarray) -> np.ndarray:
        ti, xi, yi, pi = self._cols
        t = rows[:, ti] * self.t_scale if self.t_scale != 1.0 else rows[:, ti]
        x, y, p = rows[:, xi], rows[:, yi], rows[:, pi]
        w = self.width or 1 << 16
        h = self.height or 1 << 16
        ok = (x >= 0) & (y >= 0) & (x < w) & (y < h) & np.isfinite(t) & (np.abs(t) < 2.0**62)
        if not ok.all():
            self._counters[1] += int((~ok).sum())
        out = np.empty(int(ok.sum()), EVENT_DTYPE)
        out["x"] = x[ok]
        out["y"] = y[ok]
        out["t"] = np.round(t[ok]) if t.dtype.kind == "f" else t[ok]
        out["p"] = p[ok] > 0
        return out


@njit(cache=True)
def _put_int(buf, k, v):
    """Write the decimal digits of v >= 0 at buf[k:]; return the new end."""
    if v == 0:
        buf[k] = 48
        return k + 1
    n = 0
    u = v
    while u > 0:
        n += 1
        u //= 10
    for j in range(n - 1, -1, -1):
        buf[k + j] = 48 + v % 10
        v //= 10
    return k + n


@njit(cache=True)
def _format_rows(t, x, y, p, buf):
    """`t,x,y,p\n` per event into buf (bytes); returns the length."""
    k = 0
    for i in range(t.shape[0]):
        k = _put_int(buf, k, t[i])
        buf[k] = 44
        k = _put_int(buf, k + 1, np.int64(x[i]))
        buf[k] = 44
        k = _put_int(buf, k + 1, np.int64(y[i]))
        buf[k] = 44
        buf[k + 1] = 48 + p[i]
        buf[k + 2] = 10
        k += 3
    return k


class CsvWriter(EventWriter):
    format = "csv"

    def __init__(self, path, width=None, height=None):
        super().__init__(path, width, height)
        if self.width and self.height:
            self._f.write(f"t,x@{self.width},y@{self.height},on\n".encode())
        else:
            self._f.write(b"t,x,y,on\n")

    def write(self, ev: np.ndarray) -> None:
        ev = self._check(ev)
        if len(ev):
            buf = np.empty(len(ev) * 36, np.uint8)  # 19 + 5 + 5 + 1 digits, 3 commas, newline
            k = _format_rows(ev["t"], ev["x"], ev["y"], ev["p"], buf)
            self._f.write(buf[:k].tobytes())
            self.n_written += len(ev)
            self._last_t = int(ev["t"][-1])


register_format(FormatSpec("csv", "text events: t,x,y,p (header optional; faery's layout)", (".csv", ".txt"),
                           CsvReader, CsvWriter))
