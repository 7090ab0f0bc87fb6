"""Prophesee `% key value` text headers (RAW EVT files and DAT files)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO

from spikestream.events.blockio import WordReader

MAX_HEADER_BYTES = 1 << 20
MAX_LINE_BYTES = 4096
#: (substring of a plugin or sensor name, (width, height)); most specific first
_KNOWN_SENSORS = (("genx320", (320, 320)), ("imx636", (1280, 720)), ("gen41", (1280, 720)),
                  ("gen4", (1280, 720)), ("gen31", (640, 480)), ("gen3", (640, 480)))


@dataclass
class PercentHeader:
    lines: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # lower-case key -> value
    end: int = 0  # byte offset of the first data byte
    truncated: bool = False  # the file ends inside a header line

    def evt_format(self) -> str | None:
        """'evt2', 'evt21' or 'evt3' from `% format EVT3;...` or `% evt 3.0`, else None."""
        fmt = self.keys.get("format", "")
        name = fmt.split(";")[0].strip().upper()
        table = {"EVT3": "evt3", "EVT2": "evt2", "EVT21": "evt21", "EVT2.1": "evt21", "EVT3.0": "evt3",
                 "EVT2.0": "evt2"}
        if name in table:
            return table[name]
        ver = self.keys.get("evt", "").strip()
        return {"3.0": "evt3", "2.0": "evt2", "2.1": "evt21", "3": "evt3", "2": "evt2"}.get(ver)

    def geometry(self) -> tuple[int | None, int | None]:
        fmt = self.keys.get("format", "")
        opts = dict(kv.split("=", 1) for kv in fmt.split(";")[1:] if "=" in kv)
        w, h = _int(opts.get("width")), _int(opts.get("height"))
        if w is None or h is None:
            m = re.match(r"\s*(\d+)\s*x\s*(\d+)", self.keys.get("geometry", ""))
            if m:
                w, h = int(m.group(1)), int(m.group(2))
        if w is None or h is None:
            w, h = _int(self.keys.get("width")), _int(self.keys.get("height"))
        if w is not None and h is not None and w > 0 and h > 0:
            return w, h
        # older recordings name only the camera: infer the sensor size from known plugin/sensor names
        text = " ".join(self.keys.get(k, "") for k in ("plugin_name", "sensor_generation", "generation",
                                                         "sensor_name", "integrator_name")).lower()
        for key, size in _KNOWN_SENSORS:
            if key in text:
                return size
        return None, None

    def t0(self) -> int:
        v = _int(self.keys.get("t0"))
        return v if v is not None and v >= 0 else 0


def _int(s: str | None) -> int | None:
    try:
        return int(str(s).strip())
    except (TypeError, ValueError):
        return None


def read_percent_header(f: BinaryIO) -> PercentHeader:
    """Parse `%` lines from the start of `f`; stop at `% end` or at the first line not starting with '%'.

    A line must be printable text ending in a newline within MAX_LINE_BYTES, else it is taken as data.
    """
    h = PercentHeader()
    f.seek(0)
    pos = 0
    while pos < MAX_HEADER_BYTES:
        first = f.read(1)
        if first != b"%":
            break
        line = first + f.readline(MAX_LINE_BYTES)
        if not line.endswith(b"\n") and len(line) < MAX_LINE_BYTES and not f.read(1):
            h.truncated = True
            break
        if not line.endswith(b"\n") or any(c < 9 or c == 127 for c in line[:-1]):
            break
        pos += len(line)
        text = line[1:].decode("ascii", "replace").strip()
        h.lines.append(text)
        if text.lower() == "end":
            break
        parts = text.split(None, 1)
        if parts:
            h.keys[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ""
    h.end = pos
    f.seek(pos)
    return h


def percent_header(probe) -> PercentHeader | None:
    """The `%` header of a file being sniffed (`spikestream.events.io.Probe`), parsed once for every format
    that asks; None when the file does not start with '%'."""
    if not probe.head.startswith(b"%"):
        return None

    def parse(path: str) -> PercentHeader:
        with open(path, "rb") as f:
            return read_percent_header(f)

    return probe.once("percent_header", parse)


def evt_sniffer(name: str):
    """A RAW format's sniff: its `% format EVTx` / `% evt x.y` line names `name` ('evt2', 'evt21', 'evt3')."""

    def sniff(probe) -> bool:
        h = percent_header(probe)
        return h is not None and h.evt_format() == name

    return sniff


def format_percent_header(lines: list[str]) -> bytes:
    return "".join(f"% {ln}\n" for ln in lines).encode("ascii")


def format_raw_header(version: str, name: str, width: int | None, height: int | None, t0: int,
                      options: str = "") -> bytes:
    """The header our RAW writers put before EVT data: `% evt VERSION`, `% format NAME[;width=W;height=H]OPTIONS`,
    `% geometry WxH` (both only when the size is known), `% t0 T0`, `% end`."""
    sized = bool(width and height)
    fmt = f"format {name}" + (f";width={width};height={height}" if sized else "") + options
    geometry = [f"geometry {width}x{height}"] if sized else []
    return format_percent_header([f"evt {version}", fmt, *geometry, f"t0 {t0}", "end"])


class PercentHeaderReader(WordReader):
    """A word reader for files that start with a `%` header (RAW EVT, DAT)."""

    def _read_percent_header(self, w_slot: int, h_slot: int) -> PercentHeader:
        """Parse the header into ``self.header`` (failing on a file that ends inside it), take the sensor size
        and t0 from it, and put the size in the decoder state's `w_slot` / `h_slot` (65536 when unknown)."""
        h = read_percent_header(self._f)
        self.header = h
        if h.truncated:
            self._fail("file ends inside its text header")
        self.width, self.height = h.geometry()
        self.t0_us = h.t0()
        self._state[w_slot] = self.width if self.width else 1 << 16
        self._state[h_slot] = self.height if self.height else 1 << 16
        return h
