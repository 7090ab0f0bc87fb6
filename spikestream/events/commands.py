"""`spikestream convert IN OUT` and `spikestream events info FILE`: the event-file commands.

The CLI calls `add_commands(subparsers)`; `info` and `convert` are plain functions for library use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from spikestream.events.blockio import EventFormatError
from spikestream.events.io import formats, open_reader, open_writer, writer_for_extension


def info(path: str | os.PathLike, format: str | None = None) -> dict[str, Any]:
    """Format, sensor size, event count, first/last time, duration and mean rate of an event file.
    Streams the whole file in bounded chunks."""
    with open_reader(path, format=format) as r:
        n = 0
        t_first = t_last = None
        t_min = t_max = None
        for ev in r:
            if t_first is None:
                t_first = int(ev["t"][0])
            t_last = int(ev["t"][-1])
            lo, hi = int(ev["t"].min()), int(ev["t"].max())
            t_min = lo if t_min is None else min(t_min, lo)
            t_max = hi if t_max is None else max(t_max, hi)
            n += len(ev)
        n_trig = len(r.pop_triggers())
        duration_us = (t_max - t_min) if n else 0
        return {
            "path": os.fspath(path), "format": r.format, "width": r.width, "height": r.height, "events": n,
            "t_first_us": t_first, "t_last_us": t_last, "duration_s": duration_us / 1e6,
            "rate_mev_s": (n / duration_us) if duration_us > 0 else None, "triggers": n_trig,
            "bytes": r.size, "skipped": {k: v for k, v in r.stats.items() if v},
        }


def convert(src: str | os.PathLike, dst: str | os.PathLike, format: str | None = None,
            progress: bool = True, src_format: str | None = None, width: int | None = None,
            height: int | None = None, chunk_events: int = 1 << 18) -> dict[str, Any]:
    """Stream `src` into `dst` (format from `format` or dst's extension). Returns counts."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    out_format = format or writer_for_extension(dst)
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError("source and destination are the same file")
    with open_reader(src, format=src_format, chunk_events=chunk_events) as r:
        w_ = width or r.width
        h_ = height or r.height
        n = 0
        with open_writer(dst, format=out_format, width=w_, height=h_) as w:
            bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                           TextColumn("{task.fields[events]} events"), TimeRemainingColumn(),
                           disable=not progress, transient=False)
            with bar:
                task = bar.add_task(f"{r.format} -> {out_format}", total=r.size, events="0")
                for ev in r:
                    w.write(ev)
                    n += len(ev)
                    bar.update(task, completed=r.position, events=f"{n:,}")
                bar.update(task, completed=r.size)
        return {"events": n, "src_format": r.format, "dst_format": out_format, "width": w_, "height": h_,
                "skipped": {k: v for k, v in r.stats.items() if v}}


def _cmd_info(a: argparse.Namespace) -> int:
    try:
        d = info(a.file, format=a.format)
    except (OSError, EventFormatError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(d))
        return 0
    size = f"{d['width']}x{d['height']}" if d["width"] else "unknown"
    rate = f"{d['rate_mev_s']:.3f} Mev/s" if d["rate_mev_s"] is not None else "n/a"
    print(f"file:       {d['path']}\nformat:     {d['format']}\nresolution: {size}\nevents:     {d['events']:,}\n"
          f"time:       {d['t_first_us']} .. {d['t_last_us']} us\nduration:   {d['duration_s']:.6f} s\n"
          f"rate:       {rate}\ntriggers:   {d['triggers']}")
    if d["skipped"]:
        print(f"skipped:    {d['skipped']}")
    return 0


def _cmd_convert(a: argparse.Namespace) -> int:
    try:
        d = convert(a.src, a.dst, format=a.to, src_format=a.src_format, progress=not a.quiet,
                    width=a.width, height=a.height)
    except (OSError, EventFormatError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{d['events']:,} events {d['src_format']} -> {d['dst_format']} ({a.dst})", file=sys.stderr)
    if d["skipped"]:
        print(f"skipped: {d['skipped']}", file=sys.stderr)
    return 0


def _add_convert(sp, name: str = "convert") -> None:
    q = sp.add_parser(name, help="convert an event file between formats (streaming, with a progress bar)")
    q.add_argument("src", metavar="IN")
    q.add_argument("dst", metavar="OUT")
    q.add_argument("--to", default=None, help="output format (default: from OUT's extension)")
    q.add_argument("--from", dest="src_format", default=None, help="input format (default: detected)")
    q.add_argument("--width", type=int, default=None, help="sensor width when IN does not say")
    q.add_argument("--height", type=int, default=None, help="sensor height when IN does not say")
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.set_defaults(fn=_cmd_convert)


def _cmd_emulate(a: argparse.Namespace) -> int:
    from rich.progress import Progress

    from spikestream.events.emulator import emulate_to_file

    params = {k: v for k, v in (("pos_thres", a.pos_thres), ("neg_thres", a.neg_thres),
                                ("sigma_thres", a.sigma_thres), ("refractory_us", a.refractory_us),
                                ("cutoff_hz", a.cutoff_hz), ("leak_rate_hz", a.leak_rate_hz),
                                ("shot_noise_rate_hz", a.shot_noise_rate_hz), ("seed", a.seed)) if v is not None}
    try:
        with Progress(disable=a.quiet, transient=True) as bar:
            task = bar.add_task("emulating", total=None)
            n = emulate_to_file(a.frames, a.out, a.fps, format=a.to,
                                progress=lambda done, total: bar.update(task, completed=done, total=total), **params)
    except (OSError, EventFormatError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{n} events written to {a.out}")
    return 0


def _add_emulate(subparsers) -> None:
    q = subparsers.add_parser("emulate", help="frames (.npy stack or image folder) -> events, as v2e does")
    q.add_argument("frames", metavar="FRAMES")
    q.add_argument("out", metavar="OUT")
    q.add_argument("--fps", type=float, default=30.0, help="frame rate of the input (default 30)")
    q.add_argument("--to", default=None, help="output format (default: from OUT's extension)")
    for name, typ in (("pos-thres", float), ("neg-thres", float), ("sigma-thres", float), ("refractory-us", int),
                      ("cutoff-hz", float), ("leak-rate-hz", float), ("shot-noise-rate-hz", float), ("seed", int)):
        q.add_argument(f"--{name}", type=typ, default=None)
    q.add_argument("-q", "--quiet", action="store_true")
    q.set_defaults(fn=_cmd_emulate)


def add_commands(subparsers) -> None:
    """Add `convert IN OUT` and `events {info,convert,emulate}` to an argparse subparsers object."""
    _add_convert(subparsers)
    ev = subparsers.add_parser("events", help="event-camera files: info, convert, emulate")
    esp = ev.add_subparsers(dest="events_cmd", required=True)
    q = esp.add_parser("info", help="format, resolution, event count, duration and rate of an event file")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--format", default=None, help=f"force the input format ({', '.join(formats())})")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(fn=_cmd_info)
    _add_convert(esp)
    _add_emulate(esp)
