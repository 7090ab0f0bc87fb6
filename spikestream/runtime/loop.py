"""How a node runs: sockets, the loop, validation at the boundary, stats, state, graceful stop.

The loop alone waits (on its sockets, at most one tick or until the node's next wanted wake-up) and
alone handles signals. Every inbound frame is validated once here; a bad one is counted and logged at a
limited rate, never a crash. An exception inside a node callback is counted and logged the same way.
Commands and checkpoints: `runtime/control.py`; binding, connecting and watching sockets: `runtime/sockets.py`;
warming and the start handshake (start_wait_s): `runtime/start.py`.

Start-up order: `Node.setup`, the restored state, `Node.warm` (the node's kernels run once on scratch data, so
a kernel not in Numba's cache compiles now, with jitlog's "compiling kernel" lines, not while messages queue),
then the sockets, sd_notify READY and the loop. Until warm() has returned the node is not *ready*: nothing it
emits is sent (counted as ``sent_before_ready``). A compile after that is counted as ``late_compiles`` in the
node's stats (jitlog logs the first one as a WARNING).
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import zmq

from spikestream import protocol as P
from spikestream.registry import NODES
from spikestream.runtime import auth, jitlog, sdnotify
from spikestream.runtime.control import ControlMixin
from spikestream.runtime.inputs import InputStreams
from spikestream.runtime.node import Node
from spikestream.runtime.pipeline import NodeSpec
from spikestream.runtime.start import StartMixin, StartupTimes
from spikestream.runtime.sockets import (  # noqa: F401  (_bind, BIND_RETRY_S: re-exported)
    BIND_RETRY_S, SEND_RETRY_MS, BindError, SocketsMixin, _bind)
from spikestream.runtime.stats import NodeStats, RateLimitedLog

PR_SET_TIMERSLACK, TIMER_SLACK_NS = 29, 1000
EX_CONFIG = 78  # sysexits: the node cannot start as configured; restarting will not help
EX_STOPPED = 143  # stopped on request (SIGTERM/SIGINT, the `stop` command) before its data ended (128 + SIGTERM)
#: A node exits 0 only when its data really ended (`Node.finished`, or `--duration` elapsed).
DRAIN_IDLE_S = 0.2  # on a stop, the inputs count as drained once nothing arrived for this long
FINISH_LINGER_MS = 30_000  # a finished lossless node waits this long at most for its consumers to take the rest
END_DRAIN_MAX_S = 600.0  # after SIGUSR1 (upstream ended), the bound on handling what is queued (normally: until idle)
MAX_DRAIN = 512  # frames taken from one socket per loop iteration, so no input starves the others


class NodeRunner(ControlMixin, SocketsMixin, StartMixin):
    def __init__(self, spec: NodeSpec, stats_endpoint: str | None = None, log: logging.Logger | None = None):
        self.spec = spec
        self.log = log or logging.getLogger(f"spikestream.{spec.name}")
        self.warn = RateLimitedLog(self.log)
        self.stats = NodeStats(spec.name, spec.kind)
        self.stats_endpoint = stats_endpoint
        self._stop = False
        self._hard_stop = False
        self._stop_at: float | None = None  # when the loop first saw the stop (bounds the drain)
        self._seq: dict[str, int] = {}
        self._streams = InputStreams(self.stats, self.warn.warning)  # order, gaps, time resets per input stream
        self.node: Node | None = None
        self._settled = False
        self._restored_arrays = 0  # how many arrays the restored state had: no checkpoint holds fewer
        self._token: str | None = None  # the control token commands must carry (runtime/auth.py)
        self._heartbeat = sdnotify.Heartbeat()  # WATCHDOG=1 under a Type=notify unit with WatchdogSec=; else a no-op
        self.startup = StartupTimes()  # made afresh when run() begins
        self._ready = False  # warm() has returned: from now on what the node emits is sent
        self._sent_before_ready = 0
        self._compiles: jitlog.Compiles | None = None  # Numba compiles in this process (None: Numba not loaded)

    # ------------------------------------------------------------------ sending
    def _emit(self, port: str, body: P.Body, t_us: int, origin_ns: int) -> None:
        if not self._ready:  # during setup or warm(): a command computed before the kernels were ready
            self._sent_before_ready += 1
            self.warn.warning("unready", f"output {port!r}: the node emitted before its kernels were ready "
                                         f"(in setup or warm): not sent ({self._sent_before_ready} so far)")
            return
        sock = self._out.get(port)
        if sock is None:
            if port in type(self.node).outputs:  # declared but left unwired in the pipeline: fine
                return
            raise ValueError(f"node emitted on undeclared port {port!r}")
        seq = self._seq.get(port, 0)
        frame = P.pack(P.Message(body, f"{self.spec.name}.{port}", seq, t_us, origin_ns))
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            if self.spec.flow != "lossless" or not self._wait_to_send(sock, frame, port):
                self.stats.send_failed += 1  # counted here; its seq is reused, so no receiver counts it again
                self.warn.warning(f"send:{port}", f"output {port!r}: a subscriber's queue is full (hwm "
                                                  f"{self.spec.hwm}): dropping ({self.stats.send_failed} so far)")
                return
        if seq == 0:
            self.log.info("first message out on %r", port)
        self._seq[port] = seq + 1
        self.stats.msgs_out[port] += 1
        if origin_ns > 0:
            self.stats.latency_out.add((time.time_ns() - origin_ns) * 1e-9)

    def stop(self, *_: Any) -> None:
        self._hard_stop = self._stop  # a second signal: stop without waiting for a blocked send or a drain
        self._stop = True

    def end_of_input(self, *_: Any) -> None:
        """SIGUSR1, from the supervisor once every node upstream of this one has finished: handle everything
        still queued on the inputs (until they are idle, at most END_DRAIN_MAX_S), then finish (exit 0)."""
        self._ending = True
        self._stop = True

    def _drain_budget_s(self) -> float:
        return END_DRAIN_MAX_S if getattr(self, "_ending", False) else self.spec.drain_s

    def _wait_to_send(self, sock: zmq.Socket, frame: bytes, port: str) -> bool:
        """Lossless flow: the subscriber's queue is full (XPUB_NODROP said EAGAIN). Wait for room instead of
        dropping, still answering commands and signals; while we wait we take nothing in, so the
        back-pressure reaches our own senders. After a stop, wait at most `drain_s`. False: gave up."""
        self.stats.backpressure_waits += 1
        t0 = time.monotonic()
        warned = False
        try:
            while True:
                if self._ctl is not None and self._ctl.poll(0):
                    self._ctl.send(self._command(self._ctl.recv()))
                self._heartbeat.beat()  # waiting on a slow consumer is not a hang
                now = time.monotonic()
                if self._stop:
                    self._stop_at = self._stop_at or now
                    if self._hard_stop or now - self._stop_at > self._drain_budget_s():
                        return False
                if not warned and now - t0 > 5.0:
                    warned = True
                    self.log.warning("output %r: its subscriber has taken nothing for %.0f s; waiting (flow = "
                                     "\"lossless\")", port, now - t0)
                try:
                    sock.send(frame)  # blocks at most SEND_RETRY_MS (SNDTIMEO), woken as soon as there is room
                    return True
                except zmq.Again:
                    continue
        finally:
            self.stats.backpressure_s += time.monotonic() - t0

    # ------------------------------------------------------------------ receiving
    def _receive(self, port: str, frame: bytes) -> None:
        st = self.stats
        try:
            msg = P.unpack(frame, self.spec.max_message_bytes, type(self.node).inputs[port])
        except P.ProtocolError as e:
            st.rejected += 1
            self.warn.warning(f"reject:{port}", f"input {port!r}: rejected a message: {e}")
            return
        for m in self._streams.accept(port, msg):
            self._deliver(port, m)

    def _deliver(self, port: str, msg: P.Message) -> None:
        st = self.stats
        if msg.origin_ns > 0:
            age = (time.time_ns() - msg.origin_ns) * 1e-9
            if self.spec.max_age_ms is not None and age * 1e3 > self.spec.max_age_ms:
                st.stale += 1
                st.dropped += 1
                return
            st.latency_in.add(age)
        st.msgs_in[port] += 1
        self._call(self.node.on_message, port, msg)

    def _call(self, fn, *args) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        except Exception as e:  # a node bug or bad data must not kill the daemon
            self.stats.errors += 1
            self.warn.warning(f"err:{fn.__name__}", f"{fn.__name__} raised {type(e).__name__}: {e}")
            self.log.debug("traceback", exc_info=True)
            return None
        finally:
            self.stats.busy_s += time.perf_counter() - t

    def _realtime(self) -> None:
        """What a real-time process does once set up: pin and prioritise it if asked, and keep the garbage
        collector's long pauses away from the loop (everything built so far is frozen out of its scans;
        `_settle` does it again after the first work, for what a node builds lazily)."""
        spec = self.spec
        try:  # timers (a paced source's sleep) may fire up to 'slack' late; Linux's default is 50 us
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS)
        except (OSError, AttributeError):
            pass
        try:
            if spec.cpus:
                os.sched_setaffinity(0, spec.cpus)
            if spec.rt_priority:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(spec.rt_priority)))
        except (OSError, ValueError) as e:
            self.log.warning("real-time settings (cpus %s, SCHED_FIFO priority %s) not applied (%s); running with "
                             "normal scheduling. Run as root, or allow it with CAP_SYS_NICE or an RLIMIT_RTPRIO "
                             "(systemd: LimitRTPRIO=)", spec.cpus, spec.rt_priority, e)
        gc.collect()
        gc.freeze()

    def _settle(self) -> None:
        """Freeze what the node built on its first message or first emit (an SNN sizes itself from the first
        packet; loading its kernels leaves ~50k objects). Left in the collector's generations, any later full
        collection would scan them: 8-14 ms. (The demo's nodes allocate too few tracked objects per message
        to trigger collections at all; a node or command that allocates more would.)"""
        self._settled = True
        gc.collect()
        gc.freeze()

    def snapshot(self) -> dict[str, Any]:
        snap = self.stats.snapshot(dict(self.node.counters) if self.node else None)
        if self._compiles is None:
            self._compiles = jitlog.watch(self.log)  # the node imported Numba only later, in a callback
            if self._compiles is not None and self._ready:
                self._compiles.set_ready()
        snap["late_compiles"] = self._compiles.late if self._compiles is not None else 0
        snap["sent_before_ready"] = self._sent_before_ready
        snap["startup"] = self.startup.phases  # wall and CPU seconds per start-up phase (runtime/start.py)
        return snap

    # ------------------------------------------------------------------ the loop
    def run(self, duration_s: float | None = None, report: str | None = None) -> int:
        spec = self.spec
        for s in (signal.SIGTERM, signal.SIGINT):  # first: a stop asked for during start-up is graceful too
            signal.signal(s, self.stop)
        signal.signal(signal.SIGUSR1, self.end_of_input)
        self.startup = StartupTimes()
        t_setup = time.monotonic()
        try:
            cls = NODES.get(spec.kind)
            self._compiles = jitlog.watch(self.log)  # a kernel not in Numba's cache compiles: say so, not look stuck
            self.node = cls(spec.name, spec.params, emit=self._emit, log=self.log)
            self.node.curve_keys = spec.curve_keys  # a zmq_pub sink encrypts when the pipeline does (B2)
            self.node.setup()
            self.log.info("%s (%s) set up in %.2f s", spec.name, spec.kind, time.monotonic() - t_setup)
            if spec.state:
                self._restore(cls)
            self._token = auth.token_from_env()
            if spec.control and self._token is None and not spec.curve_keys:
                self.log.warning("control channel %s is open to every process that can reach it (no CURVE keys, no "
                                 "control token): `spikestream run` gives its nodes a token; alone, set %s",
                                 spec.control, auth.ENV_TOKEN_FILE)
        except Exception as e:
            self.log.error("cannot start node %r (%s): %s: %s", spec.name, spec.kind, type(e).__name__, e)
            return EX_CONFIG
        self.startup.mark("setup")
        self._open_inputs()  # connected, saying "starting" (runtime/start.py): nothing queues during warm()
        self._warm()  # before the sockets: upstream nodes wait for this one's subscription (start_wait_s)
        self._realtime()

        try:
            self._open_sockets()
        except BindError as e:
            self.log.error("cannot start node %r (%s): %s", spec.name, spec.kind, e)
            self._call(self.node.close)
            return EX_CONFIG
        self.startup.mark("sockets")
        t_start = time.monotonic()
        tick_ns = int(spec.tick_ms * 1e6)
        next_stats = t_start + spec.stats_interval_s
        next_ckpt = t_start + spec.checkpoint_s if spec.checkpoint_s else math.inf
        started = False
        code = 0  # finished, or --duration elapsed
        sdnotify.ready(f"{spec.name} ({spec.kind}) running")  # set up, endpoints bound (systemd: Type=notify)
        try:
            while not self._stop:
                self._heartbeat.beat()
                if not started:
                    started = self._maybe_start(time.monotonic() - t_start)
                now = time.time_ns()
                wake = self.node.wake_at_ns() if started else None
                self._serve(tick_ns if wake is None else min(tick_ns, max(0, wake - now)))
                now = time.time_ns()
                if wake is not None and now >= wake:
                    self.stats.loop_lag.add((now - wake) * 1e-9)
                if started:
                    self._call(self.node.poll, now)
                    if not self._settled and (self.stats.msgs_in or self.stats.msgs_out):
                        self._settle()
                mono = time.monotonic()
                if mono >= next_stats:
                    next_stats = mono + spec.stats_interval_s
                    self._publish_stats(self.snapshot())
                if mono >= next_ckpt:
                    next_ckpt = mono + spec.checkpoint_s
                    self._call(self.save_state, spec.state)
                if self.node.finished:
                    self.log.info("source finished")
                    break
                if duration_s is not None and mono - t_start >= duration_s:
                    break
            sdnotify.stopping()
            if self._stop and getattr(self, "_ending", False):  # upstream ended: handle all that is queued, finish
                if started:
                    self._drain()
                self._call(self.node.on_stop)
            elif self._stop:
                code = EX_STOPPED
                self._call(self.node.on_stop)  # before the drain: an output tells its actuator now (B2)
                if started:
                    self._drain()
        finally:
            if self.spec.flow == "lossless":  # let the consumers take what is still queued
                self._linger_ms = max(self.spec.linger_ms, FINISH_LINGER_MS if code == 0 else int(self.spec.drain_s * 1e3))
            self._shutdown(report)
        return code

    def _drain(self) -> None:
        """After a stop: take in and handle what is already queued on the inputs, until nothing arrived for
        DRAIN_IDLE_S, at most `drain_s` after the stop (END_DRAIN_MAX_S after SIGUSR1: the upstream ended).
        Stopped upstream-first, a stage has then handled everything its (already exited) senders flushed."""
        if not self._ins or self._drain_budget_s() <= 0:
            return
        self._stop_at = self._stop_at or time.monotonic()
        end = self._stop_at + self._drain_budget_s()
        poller = zmq.Poller()
        for sock in [*self._ins, *([self._ctl] if self._ctl else [])]:
            poller.register(sock, zmq.POLLIN)
        idle_since = time.monotonic()
        n = 0
        while not self._hard_stop:
            now = time.monotonic()
            until = min(end, idle_since + DRAIN_IDLE_S)
            if now >= until:
                break
            got = 0
            for sock, _ in poller.poll(math.ceil((until - now) * 1e3)):
                if sock is self._ctl:
                    sock.send(self._command(sock.recv()))
                    continue
                port = self._ins[sock]
                while got < MAX_DRAIN and sock.get(zmq.EVENTS) & zmq.POLLIN:
                    self._receive(port, sock.recv())
                    got += 1
            if got:
                n += got
                idle_since = time.monotonic()
                self._call(self.node.poll, time.time_ns())
        if time.monotonic() >= end and not self._hard_stop:
            self.log.warning("stopping with input still arriving after draining %d messages for %.1f s",
                             n, self._drain_budget_s())
        elif n:
            self.log.info("drained %d queued messages before stopping", n)

    def _serve(self, wait_ns: int) -> None:
        """Wait at most `wait_ns` for sockets, then handle what arrived: commands, subscriptions, data."""
        if self._ins or self._ctl is not None:
            events = self._poller.poll(math.ceil(wait_ns / 1e6))  # ZeroMQ waits in whole ms
        else:  # a pure source: nothing to wake it but time, so sleep to the microsecond
            time.sleep(wait_ns * 1e-9)
            events = self._poller.poll(0) if self._xpubs else []
        for sock, _ in events:
            if sock is self._ctl:
                sock.send(self._command(sock.recv()))
            elif sock in self._xpubs:
                while sock.get(zmq.EVENTS) & zmq.POLLIN:
                    self._subscription(self._xpubs[sock], sock.recv())
            elif sock in self._monitors:
                self._watch(sock)
            else:
                port = self._ins[sock]
                for _ in range(MAX_DRAIN):
                    if not sock.get(zmq.EVENTS) & zmq.POLLIN:
                        break
                    self._receive(port, sock.recv())
        if self._lost:
            self._reconnect_lost()

    def _publish_stats(self, values: dict[str, Any]) -> None:
        if self._stats_sock is not None:
            try:
                self._stats_sock.send(P.pack(P.Message(P.Stats(self.spec.name, values), f"{self.spec.name}.stats")),
                                      zmq.NOBLOCK)
            except zmq.ZMQError:
                pass

    def _shutdown(self, report: str | None) -> None:
        self._call(self.node.close)
        if self.spec.state:
            self._call(self.save_state, self.spec.state)
        snap = self.snapshot()
        self._publish_stats({**snap, "final": True})
        if report:
            Path(report).write_text(json.dumps(snap, indent=1))
        for mon in getattr(self, "_monitors", ()):
            mon.close(linger=0)
        for sock in [*self._out.values(), *self._ins, *([self._ctl] if self._ctl else []),
                     *([self._stats_sock] if self._stats_sock else [])]:
            sock.close(linger=self._linger_ms if sock in self._xpubs else self.spec.linger_ms)
        if self._auth is not None:
            self._auth.stop()
        self._ctx.term()
