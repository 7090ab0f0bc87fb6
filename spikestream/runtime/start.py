"""How a node starts, for `NodeRunner` (split out of loop.py): its kernels warmed before it is ready, then the
start handshake: a node starts (subscribes its inputs, lets a source run) once every output some node of the
pipeline reads has a subscriber, or after `start_wait_s`. Started downstream-first this way, no data is lost
to a reader that is still starting.

A reader that is still starting says so. From before its warm() (where a first start compiles its kernels:
tens of seconds on a slow board) until it starts, its input sockets are connected but subscribed only to
``STARTING + its name``, a topic no data frame matches (0xC1 never begins a msgpack frame), so nothing queues
there. A sender counts such subscriptions apart from real ones, per output port: a port whose readers are all
missing but one of them is still starting holds the start past `start_wait_s` (one INFO line says so), at most
`START_HOLD_MAX_S` more. A reader that is absent (never connected, or its process died: ZeroMQ withdraws its
subscriptions with the connection) holds nothing: the sender starts after `start_wait_s`, as before.

Down a chain the hold passes on: a node says it is starting during its warm() and its own `start_wait_s`, and
after that for as long as a reader of its own holds it, under that reader's name. So the source of
emg -> snn -> output waits while the output (the last to finish compiling, say) still compiles. In a cycle of
nodes a name can keep going round after its node started; `START_HOLD_MAX_S` bounds that case.
"""

from __future__ import annotations

import os
import time

import zmq

from spikestream import transport
from spikestream.runtime import jitlog

STARTING = b"\xc1starting:"  # subscription topic prefix of a reader that is alive and still starting
START_HOLD_MAX_S = 600.0  # a reader still starting holds a sender's start at most this long past start_wait_s
MAX_STARTING_NAMES = 64  # remembered per output port (a peer cannot grow a node's memory with topics)


def process_age_s() -> float:
    """Seconds since this process began (its fork), from /proc (10 ms resolution); 0.0 where unknown."""
    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _readers(readers: dict[str, list[str]] | None, port: str) -> str:
    """Who reads output `port`, as the waiting lines name them."""
    return ", ".join(readers[port]) if readers else "its consumers"


class StartupTimes:
    """Where a node's start-up went: per phase its wall time and this process's CPU time (the CPU figures move
    less with the machine's load). The first phase, "process", runs from the process's start (the fork) to
    `NodeRunner.run`: interpreter, imports. `phases` is what the node's stats report under "startup"."""

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = {"process": [round(process_age_s(), 3), round(time.process_time(), 3)]}
        self._wall, self._cpu = time.monotonic(), time.process_time()

    def mark(self, phase: str) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        self.phases[phase] = [round(wall - self._wall, 3), round(cpu - self._cpu, 3)]
        self._wall, self._cpu = wall, cpu

    def line(self) -> str:
        total = sum(w for w, _ in self.phases.values())
        return ", ".join(f"{k} {w:.2f} s (CPU {c:.2f})" for k, (w, c) in self.phases.items()) + \
            f"; {total:.2f} s since the process began"


class StartMixin:
    """`NodeRunner`'s start-up (uses its spec, log, stats, node and sockets)."""

    def _warm(self) -> None:
        """Run the node's `warm` (its kernels once on scratch data), say how long it took and how many kernels
        compiled, then mark the node ready. A warm() that raises is logged; its kernels then load at first use."""
        self._compiles = self._compiles or jitlog.watch(self.log)  # the node may have imported Numba in setup
        n0 = self._compiles.n if self._compiles is not None else 0
        t0 = time.monotonic()
        try:
            self.node.warm()
        except Exception as e:
            self.stats.errors += 1
            self.log.warning("warm() raised %s: %s; kernels not yet loaded compile at first use", type(e).__name__, e)
            self.log.debug("traceback", exc_info=True)
        self._compiles = self._compiles or jitlog.watch(self.log)
        n = (self._compiles.n - n0) if self._compiles is not None else 0
        self.log.info("kernels ready in %.2f s (%d compiled, the rest from Numba's cache)", time.monotonic() - t0, n)
        self._ready = True
        if self._compiles is not None:
            self._compiles.set_ready()
        self.startup.mark("warm")

    def _say_starting(self, names: set[str]) -> None:
        """Subscribe the inputs to ``STARTING + name`` for each of `names` (and to no other starting topic)."""
        topics = {STARTING + n.encode()[:256] for n in names}
        for sock in self._ins:
            for t in topics - self._starting_topics:
                sock.setsockopt(zmq.SUBSCRIBE, t)
            for t in self._starting_topics - topics:
                sock.setsockopt(zmq.UNSUBSCRIBE, t)
        self._starting_topics = topics

    def _subscription(self, port: str, frame: bytes) -> None:
        """A subscription frame read from output `port`'s XPUB: a reader's real (un)subscription is counted, a
        reader saying it is still starting (or no longer) is remembered by name."""
        topic = frame[1:]
        if not topic.startswith(STARTING):
            self._subscribers[port] += transport.subscription_delta(frame)
            return
        names, name = self._starting_readers[port], topic[len(STARTING):].decode(errors="replace")
        if frame[:1] == b"\x01" and len(names) < MAX_STARTING_NAMES:
            names.add(name)
        elif frame[:1] == b"\x00":
            names.discard(name)

    def _maybe_start(self, waited_s: float) -> bool:
        """Start (subscribe inputs, let a source run) once every output some node of the pipeline reads has a
        subscriber, or once waited `start_wait_s` (longer while a reader of a missing one is still starting).
        Terminal outputs (nobody in the pipeline file reads them, e.g. the output node's port read by an external
        actuator) are not waited for."""
        spec, readers = self.spec, self.spec.consumers
        missing = [p for p, n in self._subscribers.items() if not n and (readers is None or readers.get(p))]
        starting = {p: self._starting_readers[p] - {spec.name} for p in missing}  # its own name come round: not news
        held = set().union(*starting.values())
        if missing and waited_s < spec.start_wait_s:
            self._say_starting({spec.name} | held)
            if waited_s >= 1.0 and not self._said_waiting:
                self._said_waiting = True
                self.log.info("waiting (at most start_wait_s = %g s) for a subscriber before starting: %s", spec.start_wait_s,
                              "; ".join(f"output {p!r} at {spec.outputs[p]}, read by "
                                        f"{_readers(readers, p)}" for p in missing))
            return False
        if held and waited_s < spec.start_wait_s + START_HOLD_MAX_S:
            self._say_starting(held)
            if not self._said_holding:
                self._said_holding = True
                self.log.info("waiting past start_wait_s = %g s (at most %g s more) for readers alive and still "
                              "starting (warming their kernels, or held by their own readers): %s", spec.start_wait_s,
                              START_HOLD_MAX_S, "; ".join(
                                  f"output {p!r} (read by {_readers(readers, p)}): "
                                  f"starting {', '.join(sorted(r))}" for p, r in starting.items() if r))
            return False
        self.log.info("%s (%s) running; waited %.2f s for subscribers", spec.name, spec.kind, waited_s)
        self.startup.mark("wait")
        self.log.info("start-up: %s", self.startup.line())
        if missing:
            self.log.warning("no subscriber on %s after start_wait_s = %g s; starting anyway: what they send is lost "
                             "until their readers connect", ", ".join(f"output {p!r} ({spec.outputs[p]})" for p in missing),
                             spec.start_wait_s if not held else spec.start_wait_s + START_HOLD_MAX_S)
        for sock in self._ins:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        self._say_starting(set())
        return True
