"""`spikestream top`: watch a running pipeline's nodes from outside, through their control channels.

Why this way: every node answers `stats` on its control endpoint (a REP socket) without the control token,
whoever started it (`spikestream run`, or systemd one unit per node). So watching needs nothing from the
supervisor, works the same for both, and only reads. What a node cannot say (how often it was restarted)
is inferred: a node whose uptime went backwards between two answers is a new process, counted under
"restarts" (restarts seen while watching).

Three parts: `targets` (what to watch: a pipeline file's control endpoints, `tcp://host:auto` ones taken
from the run's WORKDIR/pipeline.resolved.json, or endpoints given as such), `Watcher` (asks every node at
once over one zmq.Poller, each request with its own deadline, so a dead node only greys its own row) and
`node_row` (two snapshots -> one row; pure, so testable without sockets), then the rendering.
"""

from __future__ import annotations

import glob
import json
import math
import re
import sys
import tempfile
import time
import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from spikestream import protocol as P
from spikestream import transport

NO_CONTROL = "no control endpoint in the file: add `control = ...` to watch it"
WINDOW_S = 1.0  # rates are taken over about the last second of answers: steadier than one refresh apart
RESOLVED = "pipeline.resolved.json"


@dataclass
class Target:
    key: str  # the node's name in a pipeline file, or the endpoint given
    endpoint: str | None
    kind: str = ""
    note: str = ""  # why it cannot be watched


def _resolved(path: str, name: str, workdir: str | None) -> Path | None:
    """The run's resolved pipeline: WORKDIR's, or else (`spikestream run` without --workdir works in a fresh
    temp folder named after the pipeline) the newest one there made from this very file."""
    if workdir:
        f = Path(workdir) / RESOLVED
        return f if f.exists() else None
    want, found = Path(path).resolve(), []
    for f in glob.glob(str(Path(tempfile.gettempdir()) / f"spikestream-{glob.escape(name)}-*" / RESOLVED)):
        try:
            if Path(json.loads(Path(f).read_text()).get("source", "")).resolve() == want:
                found.append((Path(f).stat().st_mtime, f))
        except (OSError, ValueError):
            continue
    return Path(max(found)[1]) if found else None


def targets(specs: list[str], workdir: str | None = None) -> tuple[list[Target], str | None, list[str]]:
    """What to watch, the pipelines' CURVE key folder, and notes on where the endpoints came from. A
    PIPELINE argument gives each of its nodes' control endpoints (the resolved ones where the run wrote
    them: `:auto` ones can only come from there); an ENDPOINT argument (`tcp://...`, `ipc://...`) itself."""
    from spikestream.runtime import pipeline

    out: list[Target] = []
    keys, notes = None, []
    for s in specs:
        if "://" in s:
            out.append(Target(s, transport.check_endpoint(s)))
            continue
        pl = pipeline.load(s)  # checks the file; the ports it picks for `:auto` are no node's (see `auto`)
        keys = keys or pl.curve_keys
        raw = {} if s.endswith(".json") else tomllib.loads(Path(s).read_text()).get("nodes", {})
        auto = {n for n, d in raw.items() if str(d.get("control", "")).endswith(":auto")}
        res = _resolved(s, pl.name, workdir) if workdir or auto else None
        got = pipeline.load(res).nodes if res else {}
        if res:
            notes.append(f"{s}: endpoints from {res}")
        elif workdir:
            notes.append(f"{s}: no {RESOLVED} in {workdir} (is the run still going?)")
        for name, spec in pl.nodes.items():
            ctl = got[name].control if name in got else None if name in auto else spec.control
            note = "" if ctl else f"control is {raw[name]['control']!r}: give --workdir of its `spikestream " \
                f"run` (it writes {RESOLVED})" if name in auto else NO_CONTROL
            key = f"{pl.name}/{name}" if any(t.key == name for t in out) else name  # two files, one name
            out.append(Target(key, ctl and ctl.replace("://*:", "://127.0.0.1:"), spec.kind, note))
    return out, keys, notes


def _sum(d: Any) -> int:
    return sum(d.values()) if isinstance(d, dict) else 0


def node_row(name: str, cur: dict | None, prev: dict | None = None, state: str = "answering",
             restarts: int | None = None, kind: str = "", note: str = "") -> dict[str, Any]:
    """One table row from a node's latest `stats` answer (`cur`) and an earlier one (`prev`, for rates).
    Rates are msgs/s between the two, on the node's own uptime clock (none across a restart); drops
    (dropped + send_failed), rejects, latency (origin -> leaving this node, or arriving for a sink; p50/p99
    since it started) and busy (CPU fraction inside node callbacks, since it started) are the node's own."""
    row: dict[str, Any] = {"node": name, "kind": kind, "state": state, "in_per_s": None, "out_per_s": None,
                           "drops": None, "rejects": None, "restarts": restarts, "p50_ms": None, "p99_ms": None,
                           "busy": None, "learning": None, "snn_rate_hz": None, "weight_change": None, "note": note}
    if state != "answering" or not isinstance(cur, dict) or not isinstance(cur.get("runtime"), dict):
        return row
    rt = cur["runtime"]
    row.update(node=rt.get("node", name) if "://" in name else name, kind=rt.get("kind", kind), uptime_s=rt.get("uptime_s"),
               drops=rt.get("dropped", 0) + rt.get("send_failed", 0), rejects=rt.get("rejected", 0),
               busy=rt.get("cpu_busy_frac"))
    pr = prev.get("runtime") if isinstance(prev, dict) else None
    if isinstance(pr, dict) and pr.get("uptime_s", math.inf) < rt.get("uptime_s", 0):
        dt = rt["uptime_s"] - pr["uptime_s"]
        for k, col in (("msgs_in", "in_per_s"), ("msgs_out", "out_per_s")):
            n = _sum(rt.get(k)) - _sum(pr.get(k))
            row[col] = round(n / dt, 2) if n >= 0 else None
    lat = rt.get("latency_out_ms") or rt.get("latency_in_ms") or {}
    for q in ("p50", "p99"):
        row[f"{q}_ms"] = round(lat[q], 4) if isinstance(lat.get(q), (int, float)) else None
    own = cur.get("node")
    if isinstance(own, dict):
        if isinstance(own.get("learning"), bool):
            row["learning"] = "on" if own["learning"] else "off"
        rates, dw = own.get("rates_hz"), own.get("weight_change")
        if isinstance(rates, dict) and rates:
            row["snn_rate_hz"] = round(sum(rates.values()) / len(rates), 3)
        if isinstance(dw, dict) and dw:
            row["weight_change"] = sum(dw.values()) / len(dw)
    return row


class Watcher:
    """Asks every target for `stats`, all at once, and keeps each one's recent answers.

    One REQ socket per node, all on one zmq.Poller, each request with its own deadline: a node that does
    not answer within `timeout_s` is "not answering" and its socket is replaced (a REQ socket whose request
    got no reply cannot send again), while the others go on being read every round."""

    def __init__(self, tgts: list[Target], curve: transport.Curve | None = None, timeout_s: float = 1.0):
        self.ctx = zmq.Context()
        self.targets = {t.key: t for t in tgts}
        self.curve, self.timeout_s = curve, timeout_s
        self.hist: dict[str, deque] = {k: deque() for k in self.targets}  # (monotonic, stats answer)
        self.state = {k: "waiting" if t.endpoint else "no endpoint" for k, t in self.targets.items()}
        self.restarts = dict.fromkeys(self.targets, 0)
        self.errors: dict[str, str] = {}
        self._socks: dict[str, zmq.Socket] = {}
        self._keys: dict[zmq.Socket, str] = {}
        self._sent: dict[str, float] = {}  # key -> when its pending request left
        self._poller = zmq.Poller()
        self._frame = P.pack(P.Message(P.Command("stats")))

    def _drop(self, key: str) -> None:
        s = self._socks.pop(key, None)
        if s is not None:
            self._poller.unregister(s)
            del self._keys[s]
            s.close(linger=0)
        self._sent.pop(key, None)

    def _send(self, key: str, now: float) -> None:
        s = self._socks.get(key)
        if s is None:
            s = self.ctx.socket(zmq.REQ)
            # what transport.request does to a REQ socket (CURVE client keys, limits), kept open across rounds
            transport._common(s, transport.SocketOptions(linger_ms=0, curve=self.curve), server=False)
            s.connect(self.targets[key].endpoint)
            self._socks[key], self._keys[s] = s, key
            self._poller.register(s, zmq.POLLIN)
        try:
            s.send(self._frame, zmq.NOBLOCK)
        except zmq.ZMQError:
            self._drop(key)
            self.state[key] = "not answering"
            return
        self._sent[key] = now

    def _receive(self, s: zmq.Socket, now: float) -> None:
        key = self._keys[s]
        frame = s.recv()
        del self._sent[key]
        try:
            r = P.unpack(frame, kinds=("reply",)).body
        except P.ProtocolError as e:
            r = P.Reply(False, error=f"bad reply: {e}")
        if not r.ok or not isinstance(r.result, dict) or not isinstance(r.result.get("runtime"), dict):
            self.errors[key] = r.error or "its stats hold no runtime figures"
            self.state[key] = "error"
            return
        self.errors.pop(key, None)
        h = self.hist[key]
        if h and h[-1][1]["runtime"].get("uptime_s", 0) > r.result["runtime"].get("uptime_s", 0):
            self.restarts[key] += 1  # a new process answers at that endpoint
            h.clear()
        h.append((now, r.result))
        while len(h) > 1 and h[1][0] <= now - WINDOW_S:
            h.popleft()
        self.state[key] = "answering"

    def round(self, wait_s: float) -> None:
        """Ask every node not already asked, then take answers for `wait_s` (each request's deadline kept)."""
        start = time.monotonic()
        for k, t in self.targets.items():
            if t.endpoint and k not in self._sent:
                self._send(k, start)
        end = start + wait_s
        while True:
            now = time.monotonic()
            for k, t0 in list(self._sent.items()):
                if now - t0 >= self.timeout_s:
                    self._drop(k)
                    self.state[k] = "not answering"
            until = min([end, *(t0 + self.timeout_s for t0 in self._sent.values())])
            for s, _ in self._poller.poll(math.ceil(max(0.0, until - now) * 1e3)):  # wait_s 0: what is there
                self._receive(s, time.monotonic())
            if time.monotonic() >= end:
                return

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for k, t in self.targets.items():
            h, st = self.hist[k], self.state[k]
            note = t.note or self.errors.get(k, "")
            if st == "not answering" and h:
                note = f"last answer {time.monotonic() - h[-1][0]:.0f} s ago"
            out.append({**node_row(k, h[-1][1] if h else None, h[0][1] if len(h) > 1 else None, st,
                                   self.restarts[k] if t.endpoint else None, t.kind, note), "endpoint": t.endpoint})
        return out

    def close(self) -> None:
        for k in list(self._socks):
            self._drop(k)
        self.ctx.term()


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
