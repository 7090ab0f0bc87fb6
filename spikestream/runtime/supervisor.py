"""The supervisor: start every node as its own process, restart the ones that die, stop them all cleanly.

Children are started as ``python -m spikestream node RESOLVED.json NAME`` with a parent-death signal, so
that no node outlives a supervisor that was killed. A node that exits 0 has finished (a file replay) and
is not restarted; one that exits with EX_CONFIG cannot start as configured and is not restarted either;
any other exit is restarted with exponential backoff.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import zmq

from spikestream import protocol as P
from spikestream import transport
from spikestream.runtime import auth
from spikestream.runtime.loop import EX_CONFIG
from spikestream.runtime.pipeline import Pipeline

log = logging.getLogger("spikestream.supervisor")

BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 10.0
HEALTHY_AFTER_S = 30.0  # a node that stayed up this long starts its backoff afresh
STOP_GRACE_S = 5.0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    name: str
    proc: subprocess.Popen | None = None
    started: float = 0.0
    restarts: int = 0
    failures_in_row: int = 0
    restart_at: float | None = None
    state: str = "starting"  # running | finished | failed | backoff | stopped
    exit_codes: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(self, pipeline: Pipeline, workdir: str | None = None, host: str | None = None,
                 log_dir: str | None = None, log_level: str = "INFO"):
        self.pipeline = pipeline
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"spikestream-{pipeline.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.resolved = self.workdir / "pipeline.resolved.json"
        self.resolved.write_text(pipeline.to_json())
        self._env = auth.pipeline_env(self.workdir, bool(pipeline.curve_keys))  # the nodes' control token
        self.log_dir = Path(log_dir) if log_dir else None
        self.log_level = log_level
        names = [n for n, s in pipeline.nodes.items() if host is None or s.host in (None, host)]
        self.children = {n: Child(n) for n in names}
        self.latest_stats: dict[str, dict[str, Any]] = {}
        self._stop = False
        self._ctx = zmq.Context.instance()
        curve = transport.load_curve_keys(pipeline.curve_keys) if pipeline.curve_keys else None
        self._auth = transport.start_authenticator(self._ctx, curve) if curve and pipeline.stats else None
        self._stats_sock = transport.sub(self._ctx, [pipeline.stats], transport.SocketOptions(curve=curve),
                                         bind=True) if pipeline.stats else None

    # ------------------------------------------------------------------ children
    def _spawn(self, c: Child) -> None:
        cmd = [sys.executable, "-m", "spikestream", "--log-level", self.log_level, "node", str(self.resolved), c.name,
               "--report", str(self.workdir / f"{c.name}.report.json")]
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{c.name}.log", "ab")
        c.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if out else None,
                                  preexec_fn=_die_with_parent, env=self._env)
        if out is not None:
            out.close()
        c.started = time.monotonic()
        c.state = "running"
        c.restart_at = None

    def start(self) -> None:
        for c in self.children.values():
            self._spawn(c)

    def pids(self) -> dict[str, int]:
        return {n: c.proc.pid for n, c in self.children.items() if c.proc is not None and c.proc.poll() is None}

    def check(self) -> None:
        """Reap exited children and restart the ones that should be restarted."""
        now = time.monotonic()
        for c in self.children.values():
            if c.state == "backoff" and c.restart_at is not None and now >= c.restart_at:
                c.restarts += 1
                log.warning("restarting node %s (restart %d)", c.name, c.restarts)
                self._spawn(c)
                continue
            if c.state != "running" or c.proc is None:
                continue
            code = c.proc.poll()
            if code is None:
                continue
            c.exit_codes.append(code)
            if code == 0:
                c.state = "finished"
                log.info("node %s finished", c.name)
            elif code == EX_CONFIG:
                c.state = "failed"
                log.error("node %s cannot start as configured (exit %d); not restarting", c.name, code)
            else:
                up = now - c.started
                c.failures_in_row = 1 if up >= HEALTHY_AFTER_S else c.failures_in_row + 1
                delay = min(BACKOFF_START_S * 2 ** (c.failures_in_row - 1), BACKOFF_MAX_S)
                log.warning("node %s died (exit %d) after %.1f s; restart in %.2f s", c.name, code, up, delay)
                c.state, c.restart_at = "backoff", now + delay

    def drain_stats(self) -> None:
        if self._stats_sock is None:
            return
        while True:
            try:
                frame = self._stats_sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                m = P.unpack(frame, kinds=("stats",))
            except P.ProtocolError as e:
                log.debug("bad stats frame: %s", e)
                continue
            self.latest_stats[m.body.node] = m.body.values

    def stop(self, *_: Any) -> None:
        self._stop = True

    def stop_layers(self) -> list[list[str]]:
        """Nodes grouped upstream-first, so that a stop lets each stage drain what is already in flight."""
        specs = {n: self.pipeline.nodes[n] for n in self.children}
        feeds = {n: {m for m, t in specs.items() if set(s.outputs.values()) & {e for v in t.inputs.values() for e in v}}
                 for n, s in specs.items()}
        indeg = {n: sum(n in f for f in feeds.values()) for n in specs}
        layers, left = [], set(specs)
        while left:
            layer = sorted(n for n in left if indeg[n] == 0) or sorted(left)  # a cycle: stop the rest together
            layers.append(layer)
            for n in layer:
                left.discard(n)
                for m in feeds[n]:
                    indeg[m] -= 1
        return layers

    def shutdown(self) -> None:
        """SIGTERM the children layer by layer (sources first), each layer within the grace period; SIGKILL
        any straggler; reap all."""
        for layer in self.stop_layers():
            deadline = time.monotonic() + STOP_GRACE_S
            live = [c for c in map(self.children.get, layer) if c.proc is not None and c.proc.poll() is None]
            for c in live:
                c.proc.send_signal(signal.SIGTERM)
            for c in live:
                try:
                    c.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("node %s did not stop within %.0f s; killing it", c.name, STOP_GRACE_S)
                    c.proc.kill()
                    c.proc.wait()
            if live:
                time.sleep(0.02)  # let the next layer take what the stopped one flushed
        for c in self.children.values():
            if c.state in ("running", "backoff"):
                c.state = "stopped"
        time.sleep(0.05)
        self.drain_stats()
        if self._stats_sock is not None:
            self._stats_sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()

    def run(self, duration_s: float | None = None, on_tick: Callable[["Supervisor"], None] | None = None,
            tick_s: float = 0.05, until: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Run until SIGTERM/SIGINT, `duration_s`, `until()` turns true, or every node has finished or
        failed; return the report."""
        old = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
        t0 = time.monotonic()
        try:
            self.start()
            while not self._stop:
                time.sleep(tick_s)
                self.drain_stats()
                self.check()
                if on_tick is not None:
                    on_tick(self)
                if duration_s is not None and time.monotonic() - t0 >= duration_s:
                    break
                if until is not None and until():
                    break
                if all(c.state in ("finished", "failed") for c in self.children.values()):
                    break
        finally:
            self.shutdown()
            for s, h in old.items():
                signal.signal(s, h)
        return self.report(time.monotonic() - t0)

    def report(self, elapsed_s: float) -> dict[str, Any]:
        nodes = {}
        for n, c in self.children.items():
            f = self.workdir / f"{n}.report.json"
            stats = json.loads(f.read_text()) if f.exists() else self.latest_stats.get(n, {})
            nodes[n] = {"kind": self.pipeline.nodes[n].kind, "state": c.state, "restarts": c.restarts,
                        "exit_codes": c.exit_codes, "stats": stats}
        return {"pipeline": self.pipeline.name, "elapsed_s": round(elapsed_s, 3), "nodes": nodes}
