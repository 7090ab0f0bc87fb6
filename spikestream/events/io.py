"""Open event-camera files by format name, header or extension.

    from spikestream.events.io import open_reader, open_writer, detect_format
    with open_reader(path, chunk_events=1 << 18) as r:    # format from the header/extension, or format="evt3"
        r.format, r.width, r.height                      # sensor size (None if the file does not say)
        ev = r.read(max_events)                          # EVENT_DTYPE, at most max_events; empty at the end
    with open_writer(path, format="evt3", width=640, height=480) as w:
        w.write(ev)

A format is one module that registers a `FormatSpec` (``register_format(FormatSpec(...))``) in
`spikestream.registry.EVENT_FORMATS`: its name and aliases, the extensions it reads, a ``sniff`` that
recognises its header, its reader and optional writer. Every lookup here (by name, by header, by extension)
is built from the registered specs; nothing in this module names a format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from spikestream.events.blockio import EventFormatError, EventReader, EventWriter
from spikestream.registry import EVENT_FORMATS, UnknownKind

__all__ = ["open_reader", "open_writer", "detect_format", "FormatSpec", "Probe", "EventFormatError", "formats",
           "format_name", "register_format", "writer_for_extension"]

#: bytes of a file's start every sniffer sees (`Probe.head`)
HEAD_BYTES = 64


@dataclass
class Probe:
    """What a format's ``sniff`` looks at: the file's first `HEAD_BYTES` bytes and its lower-case extension.
    ``once(key, parse)`` runs ``parse(path)`` once per probe and hands every sniffer that asks the same result
    (the RAW formats and DAT share one `%` header parse)."""

    path: str
    ext: str
    head: bytes
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, path: str | os.PathLike) -> Probe:
        path = os.fspath(path)
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        return cls(path, os.path.splitext(path)[1].lower(), head)

    def once(self, key: str, parse: Callable[[str], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = parse(self.path)
        return self._memo[key]


@dataclass(frozen=True)
class FormatSpec:
    """What the registry holds for one file format.

    ``extensions``: lower-case, with the dot, the ones it reads (an extension one format owns picks it when no
    header does; ``open_writer`` picks a writable format from them). ``sniff(probe)``: True when the file's
    header is this format's; a string says "my family, but not a version anyone reads" (the message, used when
    no format claims the file); False/None otherwise. ``aliases``: other names `open_reader(format=...)`
    takes. ``default_writer``: the one ``open_writer`` picks for an extension several writable formats share.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    reader: Callable[..., EventReader]
    writer: Callable[..., EventWriter] | None = None
    sniff: Callable[[Probe], bool | str | None] | None = None
    aliases: tuple[str, ...] = ()
    default_writer: bool = False

    def __call__(self, path: str | os.PathLike, **options: Any) -> EventReader:
        """`EVENT_FORMATS.create("evt3", path=...)` opens a reader, like every other registry kind."""
        return self.reader(path, **options)

    def label(self) -> str:
        """``name (.ext, ...)``, as error messages list the formats."""
        return f"{self.name} ({', '.join(self.extensions)})" if self.extensions else self.name


def register_format(spec: FormatSpec) -> FormatSpec:
    for ext in spec.extensions:
        if not ext.startswith(".") or ext != ext.lower():
            raise ValueError(f"event format {spec.name!r}: extension {ext!r} must be lower-case and start with '.'")
    if any(a != a.lower().strip() for a in (spec.name, *spec.aliases)):
        raise ValueError(f"event format {spec.name!r}: name and aliases must be lower-case, got {spec.aliases}")
    return EVENT_FORMATS.register(spec.name)(spec)


def formats() -> list[str]:
    """Names of every registered format."""
    return EVENT_FORMATS.names()


def _specs() -> list[FormatSpec]:
    return [EVENT_FORMATS.get(n) for n in EVENT_FORMATS.names()]


def _listing(specs: list[FormatSpec]) -> str:
    return ", ".join(s.label() for s in specs)


def format_name(name: str) -> str:
    """The registered name for `name` (a name or an alias, any case); UnknownKind lists the known ones."""
    key = name.lower().strip()
    specs = _specs()
    if key in (s.name for s in specs):  # a name before anyone's alias
        return key
    for s in specs:
        if key in s.aliases:
            return s.name
    known = ", ".join(n for s in specs for n in (s.name, *s.aliases))
    raise UnknownKind(f"unknown event format {name!r}; known: {known}")


def detect_format(path: str | os.PathLike) -> str:
    """The format of an existing file, from its header first (every registered sniffer) and its extension
    second (the registered formats that read it)."""
    probe = Probe.of(path)
    specs = _specs()
    claims, reasons = [], []
    for s in specs:
        verdict = s.sniff(probe) if s.sniff is not None else None
        if verdict is True:
            claims.append(s.name)
        elif isinstance(verdict, str):
            reasons.append(verdict)
    if len(claims) == 1:
        return claims[0]
    if claims:
        raise EventFormatError(f"{probe.path}: the header fits several formats ({', '.join(sorted(claims))}); "
                               "pass format=")
    if reasons:
        raise EventFormatError(f"{probe.path}: {reasons[0]}")
    owners = [s.name for s in specs if probe.ext in s.extensions]
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise EventFormatError(f"{probe.path}: the header does not say which of {', '.join(owners)} (all read "
                               f"{probe.ext}) it is; pass format=")
    raise EventFormatError(f"{probe.path}: cannot tell the event format from header or extension; pass format= "
                           f"(registered: {_listing(specs)})")


def open_reader(path: str | os.PathLike, format: str | None = None, **options: Any) -> EventReader:
    """A streaming reader for `path`. Options: chunk_events, and per format e.g. block_bytes."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such event file: {os.fspath(path)}")
    name = format_name(format) if format else detect_format(path)
    return EVENT_FORMATS.get(name).reader(path, **options)


def writer_for_extension(path: str | os.PathLike) -> str:
    """The writable format `path`'s extension picks: the one writable format that reads it, or the one declared
    ``default_writer`` among several."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    writable = [s for s in _specs() if s.writer is not None]
    owners = [s for s in writable if ext in s.extensions]
    if len(owners) > 1:
        owners = [s for s in owners if s.default_writer]
    if len(owners) != 1:
        raise ValueError(f"cannot choose an output format from extension {ext!r}; pass format= "
                         f"(writable: {_listing(writable)})")
    return owners[0].name


def open_writer(path: str | os.PathLike, format: str | None = None, width: int | None = None,
                height: int | None = None, **options: Any) -> EventWriter:
    """A writer for `path` (format from the extension when not given: .raw -> evt3, .npy, .dat...)."""
    spec = EVENT_FORMATS.get(format_name(format) if format else writer_for_extension(path))
    if spec.writer is None:
        can = [s.name for s in _specs() if s.writer is not None]
        raise ValueError(f"no writer for format {spec.name!r}; writable: {', '.join(can)}")
    return spec.writer(path, width=width, height=height, **options)
