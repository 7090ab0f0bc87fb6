"""Structured NPY event files: memory-mapped reader, streaming writer (header patched on close).

Reads any 1-D structured array with fields x, y, t (microseconds) and p — or faery's t, x, y, on.
Writes EVENT_DTYPE.
"""

from __future__ import annotations

import ast
import struct

import numpy as np

from spikestream.events.blockio import DEFAULT_CHUNK_EVENTS, EventWriter, PacketReader
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.io import FormatSpec, register_format

_HEADER_LEN = 128  # total bytes of magic + length + dict, fixed so the writer can patch the count


class NpyReader(PacketReader):
    format = "npy"

    def __init__(self, path, chunk_events: int = DEFAULT_CHUNK_EVENTS, width: int | None = None,
                 height: int | None = None):
        super().__init__(path, chunk_events)
        try:
            self._arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            self._fail(f"not a readable .npy file ({e})")
        names = set(self._arr.dtype.names or ())
        if self._arr.ndim != 1 or not names:
            self._fail(f"expected a 1-D structured event array, got dtype {self._arr.dtype}, shape {self._arr.shape}")
        if {"x", "y", "t", "p"} <= names:
            self._pol = "p"
        elif {"x", "y", "t", "on"} <= names:
            self._pol = "on"
        else:
            self._fail(f"event array needs fields x, y, t and p (or on); has {sorted(names)}")
        self.width, self.height = width, height
        self._i = 0

    @property
    def position(self) -> int:
        return int(self.size * self._i / max(len(self._arr), 1))

    def _next_packet(self):
        a = self._arr
        if self._i >= len(a):
            return None
        j = min(self._i + self.chunk_events, len(a))
        part = a[self._i:j]
        self._i = j
        if part.dtype == EVENT_DTYPE:  # our own layout: one byte copy, then only the polarity check
            out = part.view(np.uint8).copy().view(EVENT_DTYPE)
            bad = out["p"] > 1
            if bad.any():
                self._count("bad_polarity", int(bad.sum()))
                out["p"] = out["p"] != 0
            return out
        out = np.empty(len(part), EVENT_DTYPE)
        out["x"] = part["x"]
        out["y"] = part["y"]
        out["t"] = part["t"]
        pol = np.asarray(part[self._pol])
        bad = pol > 1
        if bad.any():  # anything but 0/1 is damage: count it, keep the event as ON
            self._count("bad_polarity", int(bad.sum()))
        out["p"] = pol != 0
        return out

    def close(self) -> None:
        self._arr = None
        super().close()


class NpyWriter(EventWriter):
    format = "npy"

    def __init__(self, path, width=None, height=None):
        super().__init__(path, width, height)
        self._f.write(self._header(0))

    @staticmethod
    def _header(n: int) -> bytes:
        d = {"descr": EVENT_DTYPE.descr, "fortran_order": False, "shape": (n,)}
        text = repr(d).encode("latin1")
        assert ast.literal_eval(text.decode("latin1"))["shape"] == (n,)
        pad = _HEADER_LEN - 10 - len(text) - 1
        if pad < 0:
            raise ValueError("npy header overflow")
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", _HEADER_LEN - 10) + text + b" " * pad + b"\n"

    def write(self, ev: np.ndarray) -> None:
        ev = self._check(ev)
        if len(ev):
            self._f.write(ev.astype(EVENT_DTYPE, copy=False).tobytes())
            self.n_written += len(ev)
            self._last_t = int(ev["t"][-1])

    def _finish(self) -> None:
        self._f.seek(0)
        self._f.write(self._header(self.n_written))


register_format(FormatSpec("npy", "NumPy structured array (x, y, t [us], p)", (".npy",), NpyReader, NpyWriter,
                           sniff=lambda probe: probe.head.startswith(b"\x93NUMPY"), aliases=("numpy",)))
