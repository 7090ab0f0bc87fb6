"""Text sinks: CSV file and JSON lines on stdout, each writing from its own thread (see `_base`)."""

from __future__ import annotations

import json
import sys

from spikestream.registry import SINKS
from spikestream.sinks._base import ThreadedSink


@SINKS.register("csv")
class CsvSink(ThreadedSink):
    """One row per control value: ``t_us,origin_ns,wall_ns,safe,<name or y0>,<name or y1>,...``.
    Each batch the writer thread takes from the queue is written and flushed together."""

    def __init__(self, *, path: str, queue: int = 1024, append: bool = False):
        if not isinstance(path, str) or not path:
            raise ValueError("sink 'csv' needs path = \"file.csv\"")
        super().__init__(queue, "csv")
        self.path = path
        self._f = open(path, "a" if append else "w", buffering=1 << 16, encoding="utf-8")
        self._header_done = append and self._f.tell() > 0

    def open(self, n_outputs: int, names: list[str]) -> None:
        self._names = list(names) or [f"y{k}" for k in range(n_outputs)]

    def _write(self, records: list[dict]) -> None:
        if not self._header_done:
            names = getattr(self, "_names", None) or (records[0]["names"] or [f"y{k}" for k in range(len(records[0]["values"]))])
            self._f.write(",".join(["t_us", "origin_ns", "wall_ns", "safe", *names]) + "\n")
            self._header_done = True
        self._f.write("".join(f"{r['t_us']},{r['origin_ns']},{r['wall_ns']},{int(r['safe'])},"
                              + ",".join(repr(v) for v in r["values"]) + "\n" for r in records))
        self._f.flush()

    def _finish(self) -> None:
        self._f.close()


@SINKS.register("stdout")
class StdoutSink(ThreadedSink):
    """JSON lines on standard output (or ``stream``), one record per control value."""

    def __init__(self, *, queue: int = 256, stream=None):
        super().__init__(queue, "stdout")
        self._stream = stream

    def _write(self, records: list[dict]) -> None:
        out = self._stream or sys.stdout
        out.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        out.flush()
