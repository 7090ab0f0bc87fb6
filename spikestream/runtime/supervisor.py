"""The supervisor: start every node as its own process, restart the ones that die, stop them all cleanly.

Children are started as ``python -m spikestream node RESOLVED.json NAME`` with a parent-death signal (so
that no node outlives a supervisor that was killed), in their own session (a terminal's Ctrl-C reaches the
supervisor alone, which then stops them upstream-first). Under systemd (a ``Type=notify`` unit) it says
READY=1 once every node has stayed up HEALTHY_AFTER_S, STATUS= on each change, WATCHDOG=1 from its loop
(a hung supervisor is killed and restarted) and STOPPING=1 when it stops (runtime/sdnotify.py). What a
child's exit means:

- 0: its data really ended (a finite source, `Node.finished`): finished, not restarted. Once every source
  (a node nothing in the pipeline feeds) has finished, the run ends: upstream-first, each other node is
  told its input ended (SIGUSR1), handles everything queued and finishes (exit 0); `run` exits 0.
- EX_CONFIG (78): it cannot run as configured (bad parameter, endpoint in use): the whole pipeline is
  stopped and `run` exits 78.
- anything else — EX_STOPPED (143: stopped by SIGTERM or the `stop` command from anyone but this
  supervisor), a crash, a kill: restarted at once, then with exponential backoff while it keeps failing.
  A stop this supervisor asked for is recorded as "stopped" whatever the code.
"""

from __future__ import annotations

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
from spikestream.runtime import auth, forkserver, sdnotify
from spikestream.runtime.loop import END_DRAIN_MAX_S, EX_CONFIG, EX_STOPPED, FINISH_LINGER_MS
from spikestream.runtime.pipeline import Pipeline
from spikestream.runtime.start import process_age_s

log = logging.getLogger("spikestream.supervisor")

BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 10.0
HEALTHY_AFTER_S = 5.0  # a node that stayed up this long starts its backoff afresh (a crash loop dies sooner)
STOP_GRACE_S = 5.0  # beyond a node's own drain and linger bounds, before it is killed


@dataclass
class Child:
    name: str
    proc: subprocess.Popen | None = None
    started: float = 0.0
    restarts: int = 0
    failures_in_row: int = 0
    restart_at: float | None = None
    state: str = "starting"  # running | finished | failed | backoff | stopping | stopped
    exit_codes: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(self, pipeline: Pipeline, workdir: str | None = None, host: str | None = None,
                 log_dir: str | None = None, log_level: str = "INFO", fork_server: bool | None = None):
        """`fork_server`: fork the nodes from one process that imported what they need (runtime/forkserver.py;
        default: on, unless SPIKESTREAM_FORKSERVER=0), or start each as its own program (False)."""
        self.pipeline = pipeline
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"spikestream-{pipeline.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.resolved = self.workdir / "pipeline.resolved.json"
        # readable by this user only (it may carry a sink's password), and removed when the run ends
        fd = os.open(self.resolved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pipeline.to_json())
        os.chmod(self.resolved, 0o600)  # an existing file keeps its mode through O_CREAT
        # the nodes' control token; not systemd's notify socket, which is this process's alone
        self._env = sdnotify.child_env(auth.pipeline_env(self.workdir, bool(pipeline.curve_keys)))
        self.log_dir = Path(log_dir) if log_dir else None
        self.log_level = log_level
        names = [n for n, s in pipeline.nodes.items() if host is None or s.host in (None, host)]
        self.children = {n: Child(n) for n in names}
        self._forks: forkserver.ForkServer | None = None
        if forkserver.enabled() if fork_server is None else fork_server:
            try:  # its imports run while this process goes on (or began before the pipeline was read: prestart)
                self._forks = forkserver.take()
                self._forks.preload([pipeline.nodes[n].kind for n in names])
            except (OSError, forkserver.ForkServerError) as e:
                log.warning("no fork server (%s): each node starts as its own program", e)
                self._forks = None
        self.latest_stats: dict[str, dict[str, Any]] = {}
        self._stop = False
        self._up = False  # every node has stayed up HEALTHY_AFTER_S (or finished) since the last failure
        self._ready_sent = False
        #: Why the run ended: "signal", "duration", "until", "finished" (every source's data ended), "config"
        #: (a node cannot run as configured).
        self.ended: str | None = None
        self._layers: list[list[str]] | None = None
        self._ctx = zmq.Context.instance()
        curve = transport.load_curve_keys(pipeline.curve_keys) if pipeline.curve_keys else None
        self._auth = transport.start_authenticator(self._ctx, curve) if curve and pipeline.stats else None
        self._stats_sock = transport.sub(self._ctx, [pipeline.stats], transport.SocketOptions(curve=curve),
                                         bind=True) if pipeline.stats else None

    # ------------------------------------------------------------------ children
    def _spawn(self, c: Child) -> None:
        cmd = [sys.executable, "-m", "spikestream", "--log-level", self.log_level, "node", str(self.resolved), c.name,
               "--report", str(self.workdir / f"{c.name}.report.json")]
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{c.name}.log"
        if self._forks is not None:
            try:
                c.proc = self._forks.spawn(cmd[3:], None if log_path is None else str(log_path), self._env)
            except forkserver.ForkServerError as e:
                log.warning("%s; from now on each node starts as its own program", e)
                self._close_forks()
        if self._forks is None:
            self._popen(c, cmd, log_path)
        c.started = time.monotonic()
        c.state = "running"
        c.restart_at = None

    def _popen(self, c: Child, cmd: list[str], log_path: Path | None) -> None:
        out = None if log_path is None else open(log_path, "ab")
        c.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if out else None,
                                  preexec_fn=forkserver.die_with_parent(os.getpid()), start_new_session=True, env=self._env)
        if out is not None:
            out.close()

    def _close_forks(self) -> None:
        if self._forks is not None:
            self._forks.close()
            self._forks = None

    def start(self) -> None:
        if self._forks is not None:
            try:
                r, k, c = self._forks.wait_ready(), self._forks.wait_preloaded(), self._forks.checked
                check = "" if c is None else f", the pipeline's check {c['s']:.2f} s (CPU {c['cpu']:.2f})"
                log.info("fork server ready: its imports took %.2f s (CPU %.2f)%s, the node kinds' %.2f s (CPU %.2f)",
                         r["ready"], r["cpu"], check, k["preloaded"], k["cpu"])
            except forkserver.ForkServerError as e:
                log.warning("%s; each node starts as its own program", e)
                self._close_forks()
        log.info("starting %d nodes %.2f s after the supervisor's process began (its CPU: %.2f s)", len(self.children),
                 process_age_s(), time.process_time())
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
                sdnotify.status(f"restarting node {c.name} (restart {c.restarts})")
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
                log.info("node %s finished (its data ended)", c.name)
            elif code == EX_CONFIG:
                c.state = "failed"
                log.error("node %s cannot run as configured (exit %d): stopping the pipeline", c.name, code)
                sdnotify.status(f"node {c.name} cannot run as configured (exit {code}): stopping")
                self._end("config")
            else:
                up = now - c.started
                c.failures_in_row = 1 if up >= HEALTHY_AFTER_S else c.failures_in_row + 1
                # the first failure (after a healthy run, or at all) is restarted at once; failures in a row
                # back off from BACKOFF_START_S, doubling up to BACKOFF_MAX_S
                delay = 0.0 if c.failures_in_row == 1 else \
                    min(BACKOFF_START_S * 2 ** (c.failures_in_row - 2), BACKOFF_MAX_S)
                how = ("was stopped (not by this supervisor)" if code == EX_STOPPED else
                       f"was killed by signal {-code}" if code < 0 else f"died (exit {code})")
                log.warning("node %s %s after %.1f s; restart in %.2f s", c.name, how, up, delay)
                sdnotify.status(f"node {c.name} {how}; restart in {delay:.2f} s")
                c.state, c.restart_at, self._up = "backoff", now + delay, False
        if not self._stop and self._self_contained() and all(self.children[n].state == "finished" for n in self.sources()):
            log.info("every source finished: telling the other nodes, upstream-first, to handle what is queued and finish")
            self._end("finished")

    def _notify_up(self) -> None:
        """Tell systemd once every node has stayed up HEALTHY_AFTER_S (the supervisor's own notion of a healthy
        node) or has finished: READY=1 the first time (a unit ordered after this one starts then; a node that
        cannot run as configured has exited 78 by then), then STATUS= again after each recovery."""
        if self._up or self._stop:
            return
        now = time.monotonic()
        if all(c.state == "finished" or (c.state == "running" and now - c.started >= HEALTHY_AFTER_S)
               for c in self.children.values()):
            self._up = True
            sdnotify.notify(("" if self._ready_sent else "READY=1\n") + f"STATUS=running {len(self.pids())} nodes")
            self._ready_sent = True

    def _end(self, why: str) -> None:
        if self.ended is None:
            self.ended = why
        self._stop = True

    def _self_contained(self) -> bool:
        """Whether every input of this run's nodes is fed by a node of this run: only then can its sources'
        end be the end of the run (an input from outside, or from another host, may go on)."""
        if not self.children:
            return False
        bound = {ep for n in self.children for ep in self.pipeline.nodes[n].outputs.values()}
        return all(ep in bound for n in self.children for eps in self.pipeline.nodes[n].inputs.values() for ep in eps)

    def sources(self) -> list[str]:
        """The nodes nothing in this pipeline (on this host) feeds."""
        return self.stop_layers()[0] if self.children else []

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
        self._end("signal")

    def stop_layers(self) -> list[list[str]]:
        """Nodes grouped upstream-first, so that a stop lets each stage drain what is already in flight."""
        if self._layers is None:
            specs = {n: self.pipeline.nodes[n] for n in self.children}
            feeds = {n: {m for m, t in specs.items()
                         if m != n and set(s.outputs.values()) & {e for v in t.inputs.values() for e in v}}
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
            self._layers = layers
        return self._layers

    def shutdown(self) -> None:
        """Stop the children layer by layer (sources first), each layer once the one before has exited; a node
        drains its inputs (what the layer before flushed) before it exits. When every source has finished
        (ended == "finished"), each node is told its upstream ended (SIGUSR1): it handles everything queued,
        however long that takes (at most END_DRAIN_MAX_S), and finishes with exit 0. Otherwise SIGTERM, the
        drain bounded by `drain_s`. SIGKILL one still there after its bounds plus STOP_GRACE_S; reap all."""
        ending = self.ended == "finished"
        for layer in self.stop_layers():
            live = [c for c in map(self.children.get, layer) if c.proc is not None and c.proc.poll() is None]
            if not live:
                continue
            specs = [self.pipeline.nodes[c.name] for c in live]
            if ending:
                grace = STOP_GRACE_S + END_DRAIN_MAX_S + FINISH_LINGER_MS / 1e3
            else:
                grace = STOP_GRACE_S + max(2 * s.drain_s + s.linger_ms / 1e3 for s in specs)
            deadline = time.monotonic() + grace
            for c in live:
                c.state = "stopping"
                c.proc.send_signal(signal.SIGUSR1 if ending else signal.SIGTERM)
            for c in live:
                try:
                    c.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("node %s did not stop within %.0f s; killing it", c.name, grace)
                    c.proc.kill()
                    c.proc.wait()
                c.exit_codes.append(c.proc.returncode)
                if ending and c.proc.returncode == 0:
                    c.state = "finished"
        for c in self.children.values():
            if c.state in ("running", "backoff", "stopping"):
                c.state = "stopped"
        self._close_forks()
        time.sleep(0.05)
        self.drain_stats()
        if self._stats_sock is not None:
            self._stats_sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        self.resolved.unlink(missing_ok=True)

    def run(self, duration_s: float | None = None, on_tick: Callable[["Supervisor"], None] | None = None,
            tick_s: float = 0.05, until: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Run until SIGTERM/SIGINT, `duration_s`, `until()` turns true, every source has finished, or a
        node cannot run as configured; stop the nodes upstream-first (each drains its inputs); return the
        report (its "ended" says why, its "exit_code" is what `spikestream run` exits with)."""
        old = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
        t0 = time.monotonic()
        heartbeat = sdnotify.Heartbeat()  # WATCHDOG=1 only while this loop goes round
        try:
            sdnotify.status(f"starting {len(self.children)} nodes")
            self.start()
            while not self._stop:
                heartbeat.beat()
                time.sleep(tick_s)
                self.drain_stats()
                self.check()
                self._notify_up()
                if on_tick is not None:
                    on_tick(self)
                if duration_s is not None and time.monotonic() - t0 >= duration_s:
                    self._end("duration")
                if until is not None and until():
                    self._end("until")
        finally:
            sdnotify.stopping(f"stopping ({self.ended or 'error'}): nodes upstream-first")
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
        # every loss, where it happened: refused at a sender, or seen as a sequence gap (or stale) at a receiver
        totals = {k: sum(int(r["stats"].get(k, 0) or 0) for r in nodes.values())
                  for k in ("send_failed", "dropped", "backpressure_waits")}
        links = self._links(nodes)
        totals["lost_in_transit"] = sum(max(0, lk["lost"]) for lk in links)
        return {"pipeline": self.pipeline.name, "elapsed_s": round(elapsed_s, 3), "ended": self.ended,
                "exit_code": EX_CONFIG if self.ended == "config" else 0, "totals": totals, "links": links,
                "nodes": nodes}

    def _links(self, nodes: dict[str, Any]) -> list[dict[str, Any]]:
        """Per input port fed by nodes of this run: what its senders sent on it and what arrived. `lost` also
        holds what no receiver can see as a gap (ZeroMQ's silent drops after the last delivered message) and
        what the receiver refused (stale, rejected). Counters are those of each process's last run."""
        out = []
        by_ep = {ep: (n, p) for n in nodes for p, ep in self.pipeline.nodes[n].outputs.items()}
        for n in nodes:
            for port, eps in self.pipeline.nodes[n].inputs.items():
                senders = [by_ep[e] for e in eps if e in by_ep]
                if not senders:
                    continue
                sent = sum(int(nodes[s]["stats"].get("msgs_out", {}).get(sp, 0)) for s, sp in senders)
                got = int(nodes[n]["stats"].get("msgs_in", {}).get(port, 0))
                out.append({"from": [f"{s}.{sp}" for s, sp in senders], "to": f"{n}.{port}", "sent": sent,
                            "received": got, "lost": sent - got})
        return out
