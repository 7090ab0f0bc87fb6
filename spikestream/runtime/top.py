"""`spikestream top`: watch a running pipeline's nodes from outside, through their control channels.

What is watched and how (the targets, the `Watcher` asking every node at once, `node_row`) lives in
`runtime.watch`; this module renders it: the plain table of `--once`, the live rich table of `top`, and
`RunView`, the same table under a running `spikestream run` with the node logs scrolling above it.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

from spikestream import transport
from spikestream.runtime.watch import NO_CONTROL, WINDOW_S, Target, Watcher, node_row, targets

__all__ = ["NO_CONTROL", "WINDOW_S", "Target", "Watcher", "node_row", "targets", "plain", "main",
           "RunView", "run_with_view"]


COLUMNS = [("node", "node"), ("state", "state"), ("in/s", "in_per_s"), ("out/s", "out_per_s"), ("drops", "drops"),
           ("rejects", "rejects"), ("restarts", "restarts"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
           ("busy", "busy"), ("learning", "learning"), ("snn Hz", "snn_rate_hz"), ("dw", "weight_change")]


def _cell(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key == "busy":
        return f"{v:.1%}"
    if key == "weight_change":
        return f"{v:.2e}"
    if key in ("p50_ms", "p99_ms"):
        return f"{v:.3g}"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def plain(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned plain-text table, then one line per note (for `--once`: scripts, logs)."""
    cells = [[h for h, _ in COLUMNS]] + [[_cell(k, r.get(k)) for _, k in COLUMNS] for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines + [f"{r['node']}: {r['note']}" for r in rows if r["note"]])


def _table(rows: list[dict[str, Any]], title: str):
    from rich import box
    from rich.table import Table

    colour = {"answering": "green", "not answering": "bold red", "error": "red", "waiting": "yellow", "failed": "bold red",
              "backoff": "yellow", "finished": "blue"}
    t = Table(title=title, caption="\n".join(f"{r['node']}: {r['note']}" for r in rows if r["note"]) or None,
              caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for i, (h, _) in enumerate(COLUMNS):
        t.add_column(h, justify="left" if i < 2 else "right", no_wrap=i < 2)
    for r in rows:
        cells = [_cell(k, r.get(k)) for _, k in COLUMNS]
        cells[1] = f"[{colour.get(r['state'], 'dim')}]{cells[1]}[/]"
        t.add_row(*cells)
    return t


def main(a) -> int:
    """`spikestream top`. With --once: exit 0 if every node with a control endpoint answered (and there was
    one), else 1; 2: bad arguments."""
    try:
        tgts, keys, notes = targets(a.targets, a.workdir)
        keys = a.keys or keys
        curve = transport.load_curve_keys(keys) if keys else None
    except ValueError as e:  # PipelineError is one
        print(f"error: {e}", file=sys.stderr)
        return 2
    interval = max(0.05, a.interval)
    w = Watcher(tgts, curve, a.timeout)
    t0 = time.monotonic()
    live = None
    try:
        if not (a.once or a.json):
            from rich.live import Live

            live = Live(auto_refresh=False)
            live.start()
        while True:
            w.round(interval - (time.monotonic() - t0) % interval)
            rows, age = w.rows(), time.monotonic() - t0
            if a.once:
                waiting = any(s == "waiting" or (s == "answering" and len(w.hist[k]) < 2) for k, s in w.state.items())
                if (age < WINDOW_S or waiting) and age < WINDOW_S + a.timeout + 1:
                    continue
            if a.json:
                print(json.dumps({"time": round(time.time(), 3), "nodes": rows}), flush=True)
            elif a.once:
                print("\n".join([plain(rows), *notes]), flush=True)
            else:
                title = f"spikestream top  ({len(rows)} nodes, every {interval:g} s; Ctrl-C quits)"
                live.update(_table(rows, "\n".join([title, *notes])), refresh=True)
            if a.once:
                watched = [r["state"] for r in rows if r["state"] != "no endpoint"]
                return 0 if watched and all(st == "answering" for st in watched) else 1
            if a.duration is not None and age >= a.duration:
                return 0
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    finally:
        if live is not None:
            live.stop()
        w.close()


# ------------------------------------------------------------------------------------- `spikestream run`'s view

#: A log record's first line: the text format's time stamp, or the JSON format's "t".
_STAMP = re.compile(rb'(?:\{"t": ")?(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d{3})')


class RunView:
    """The `top` table under a running `spikestream run`, on a terminal: log lines scroll above it, the table
    stays at the bottom.

    The nodes' output goes to WORKDIR/logs/NAME.log (the supervisor's `log_dir`), which `tick` tails and
    prints above the table as whole lines; the supervisor's own log lines reach the same place through
    rich's stderr proxy. So nothing writes past the table, every line stays whole and in the scrollback,
    and the node logs stay on disk after the run. `tick` is the supervisor's `on_tick` (every 50 ms): it
    asks the nodes without waiting and redraws every `interval` s."""

    def __init__(self, sup, interval: float = 0.25, timeout_s: float = 1.0):
        self.sup = sup
        self.interval = interval
        self.log_dir = sup.workdir / "logs"
        sup.log_dir = self.log_dir
        tgts = [Target(n, (sup.pipeline.nodes[n].control or "").replace("://*:", "://127.0.0.1:") or None,
                       sup.pipeline.nodes[n].kind, "" if sup.pipeline.nodes[n].control else NO_CONTROL)
                for n in sup.children]
        keys = sup.pipeline.curve_keys
        self.watcher = Watcher(tgts, transport.load_curve_keys(keys) if keys else None, timeout_s)
        # file -> (offset read, partial line); a reused --workdir's logs of earlier runs are not shown again
        self._tails: dict[str, tuple[int, bytes]] = {
            str(f): (f.stat().st_size, b"") for f in (self.log_dir.glob("*.log") if self.log_dir.is_dir() else [])}
        self._next = 0.0
        self.frames = 0
        self.live = None
        self._handlers: list = []

    def start(self) -> None:
        import logging

        from rich.live import Live

        self.live = Live(auto_refresh=False, redirect_stdout=True, redirect_stderr=True)
        self.live.start()
        for h in logging.getLogger().handlers:  # the supervisor's lines: above the table, through rich's proxy
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.__stderr__:
                self._handlers.append(h)
                h.setStream(sys.stderr)

    def _tail(self) -> None:
        """Print the nodes' new whole lines, merged by their time stamps (a record's continuation lines, a
        traceback's say, stay with it)."""
        records: list[tuple[str, list[bytes]]] = []
        for f in sorted(self.log_dir.glob("*.log")) if self.log_dir.is_dir() else []:
            off, part = self._tails.get(str(f), (0, b""))
            try:
                with open(f, "rb") as fh:
                    fh.seek(off)
                    data = fh.read(1 << 20)
            except OSError:
                continue
            if not data:
                continue
            *whole, part = (part + data).split(b"\n")
            self._tails[str(f)] = (off + len(data), part)
            mine: list[tuple[str, list[bytes]]] = []
            for x in whole:
                m = _STAMP.match(x)
                if m or not mine:
                    key = m.group(1).decode().replace("T", " ").replace(",", ".") if m else ""
                    mine.append((key, [x]))
                else:
                    mine[-1][1].append(x)
            records += mine
        if records:
            records.sort(key=lambda r: r[0])  # stable: one file's records keep their order
            sys.stderr.write("\n".join(x.decode("utf-8", "replace") for _, r in records for x in r) + "\n")
            sys.stderr.flush()

    def tick(self, sup=None) -> None:
        self.watcher.round(0)
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        self._render()

    def _render(self) -> None:
        self._tail()
        rows = self.watcher.rows()
        for r in rows:  # the supervisor knows better: restarts it made, and a node not running (backoff, ...)
            c = self.sup.children.get(r["node"])
            if c is not None:
                r["restarts"] = c.restarts
                if c.state != "running":
                    r["state"] = c.state
        title = (f"spikestream run {self.sup.pipeline.name}  ({len(rows)} nodes; node logs: {self.log_dir}; "
                 "Ctrl-C stops)")
        if self.live is not None:
            self.live.update(_table(rows, title), refresh=True)
            self.frames += 1

    def stop(self) -> None:
        try:
            self._render()  # the final states (stopped, finished, failed)
            for h in self._handlers:
                h.setStream(sys.__stderr__)
            if self.live is not None:
                self.live.stop()
        finally:
            self.watcher.close()


def run_with_view(sup, duration_s: float | None = None, interval: float = 0.25) -> dict[str, Any]:
    """`Supervisor.run` with the live table (`RunView`); the report as `run` returns it."""
    view = RunView(sup, interval)
    view.start()
    try:
        return sup.run(duration_s, on_tick=view.tick)
    finally:
        view.stop()
