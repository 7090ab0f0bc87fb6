"""Open event-camera files by format name, header or extension.

    from spikestream.events.io import open_reader, open_writer, detect_format
    with open_reader(path, chunk_events=1 << 18) as r:    # format from the header/extension, or format="evt3"
        r.format, r.width, r.height                      # sensor size (None if the file does not say)
        ev = r.read(max_events)                          # EVENT_DTYPE, at most max_events; empty at the end
    with open_writer(path, format="evt3", width=640, height=480) as w:
        w.write(ev)

Each format module registers a `FormatSpec` in `spikestream.registry.EVENT_FORMATS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from spikestream.events.blockio import EventFormatError, EventReader, EventWriter
from spikestream.events.rawheader import read_percent_header
from spikestream.registry import EVENT_FORMATS

__all__ = ["open_reader", "open_writer", "detect_format", "FormatSpec", "EventFormatError", "formats"]


@dataclass(frozen=True)
class FormatSpec:
    """What the registry holds for one file format."""

    name: str
    description: str
    extensions: tuple[str, ...]
    reader: Callable[..., EventReader]
    writer: Callable[..., EventWriter] | None = None

    def __call__(self, path: str | os.PathLike, **options: Any) -> EventReader:
        """`EVENT_FORMATS.create("evt3", path=...)` opens a reader, like every other registry kind."""
        return self.reader(path, **options)


def register_format(spec: FormatSpec) -> FormatSpec:
    return EVENT_FORMATS.register(spec.name)(spec)


_ALIASES = {"evt2.0": "evt2", "evt2.1": "evt21", "evt3.0": "evt3", "aedat3.1": "aedat3", "aedat31": "aedat3",
            "aedat4.0": "aedat4", "aedat2.0": "aedat2", "aedat": "aedat2", "raw": "evt3", "numpy": "npy"}


def formats() -> list[str]:
    """Names of every registered format."""
    return EVENT_FORMATS.names()


def _spec(name: str) -> FormatSpec:
    key = name.lower().strip()
    return EVENT_FORMATS.get(_ALIASES.get(key, key))


def detect_format(path: str | os.PathLike) -> str:
    """The format of an existing file, from its header first and its extension second."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    with open(path, "rb") as f:
        head = f.read(32)
        if head.startswith(b"\x93NUMPY"):
            return "npy"
        for magic, name in ((b"#!AER-DAT4", "aedat4"), (b"#!AER-DAT3", "aedat3"), (b"#!AER-DAT2", "aedat2")):
            if head.startswith(magic):
                return name
        if head.startswith(b"#!AER-DAT"):
            version = head[9:].split(b"\r")[0].decode("ascii", "replace")
            raise EventFormatError(f"{path}: unsupported AEDAT version {version!r}")
        if head.startswith(b"%"):
            h = read_percent_header(f)
            evt = h.evt_format()
            if evt is not None:
                return evt
            if ext == ".dat" or "version" in h.keys or "height" in h.keys:
                return "dat"
    by_ext = {".dat": "dat", ".npy": "npy", ".aedat4": "aedat4", ".aedat": "aedat2", ".csv": "csv", ".txt": "csv"}
    if ext in by_ext:
        return by_ext[ext]
    if ext == ".raw":
        raise EventFormatError(f"{path}: RAW file without a '% format' or '% evt' header line; "
                               "pass format='evt2', 'evt21' or 'evt3'")
    raise EventFormatError(f"{path}: cannot tell the event format from header or extension; pass format=")


def open_reader(path: str | os.PathLike, format: str | None = None, **options: Any) -> EventReader:
    """A streaming reader for `path`. Options: chunk_events, and per format e.g. block_bytes."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such event file: {os.fspath(path)}")
    name = format or detect_format(path)
    return _spec(name).reader(path, **options)


def writer_for_extension(path: str | os.PathLike) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    table = {".raw": "evt3", ".npy": "npy", ".dat": "dat", ".aedat4": "aedat4", ".csv": "csv"}
    if ext not in table:
        raise ValueError(f"cannot choose an output format from extension {ext!r}; pass format=")
    return table[ext]


def open_writer(path: str | os.PathLike, format: str | None = None, width: int | None = None,
                height: int | None = None, **options: Any) -> EventWriter:
    """A writer for `path` (format from the extension when not given: .raw -> evt3, .npy, .dat...)."""
    spec = _spec(format or writer_for_extension(path))
    if spec.writer is None:
        can = [n for n in formats() if EVENT_FORMATS.get(n).writer is not None]
        raise ValueError(f"no writer for format {spec.name!r}; writable: {', '.join(can)}")
    return spec.writer(path, width=width, height=height, **options)
