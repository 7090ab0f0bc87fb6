"""What `spikestream top` (and `spikestream run`'s live table) knows about running nodes, collected from
outside through their control channels; the rendering lives in `runtime.top`.

Why this way: every node answers `stats` on its control endpoint (a REP socket) without the control token,
whoever started it (`spikestream run`, or systemd one unit per node). So watching needs nothing from the
supervisor, works the same for both, and only reads. What a node cannot say (how often it was restarted)
is inferred: a node whose uptime went backwards between two answers is a new process, counted under
"restarts" (restarts seen while watching).

Three parts: `targets` (what to watch: a pipeline file's control endpoints, `tcp://host:auto` ones taken
from the run's WORKDIR/pipeline.resolved.json, or endpoints given as such), `Watcher` (asks every node at
once over one zmq.Poller, each request with its own deadline, so a dead node only greys its own row) and
`node_row` (two snapshots -> one row; pure, so testable without sockets).
"""

from __future__ import annotations

import glob
import json
import math
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
