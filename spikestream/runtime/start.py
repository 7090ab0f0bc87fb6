"""How a node starts, for `NodeRunner` (split out of loop.py): its kernels warmed before it is ready, then the
start handshake: a node starts (connects its inputs, lets a source run) once every output some node of the
pipeline reads has a subscriber, or after `start_wait_s`. Started downstream-first this way, no data is lost
to a reader that is still starting."""

from __future__ import annotations

import os
import time

from spikestream.runtime import jitlog


def process_age_s() -> float:
    """Seconds since this process began (its fork), from /proc (10 ms resolution); 0.0 where unknown."""
    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


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

    def _maybe_start(self, waited_s: float) -> bool:
        """Start (connect inputs, let a source run) once every output some node of the pipeline reads has a
        subscriber, or once waited `start_wait_s`. Terminal outputs (nobody in the pipeline file reads them,
        e.g. the output node's port read by an external actuator) are not waited for."""
        spec, readers = self.spec, self.spec.consumers
        missing = [p for p, n in self._subscribers.items() if not n and (readers is None or readers.get(p))]
        if missing and waited_s < spec.start_wait_s:
            if waited_s >= 1.0 and not self._said_waiting:
                self._said_waiting = True
                self.log.info("waiting (at most start_wait_s = %g s) for a subscriber before starting: %s", spec.start_wait_s,
                              "; ".join(f"output {p!r} at {spec.outputs[p]}, read by "
                                        f"{', '.join(readers[p]) if readers else 'its consumers'}" for p in missing))
            return False
        self.log.info("%s (%s) running; waited %.2f s for subscribers", spec.name, spec.kind, waited_s)
        self.startup.mark("wait")
        self.log.info("start-up: %s", self.startup.line())
        if missing:
            self.log.warning("no subscriber on %s after start_wait_s = %g s; starting anyway: what they send is lost "
                             "until their readers connect", ", ".join(f"output {p!r} ({spec.outputs[p]})" for p in missing),
                             spec.start_wait_s)
        for sock, p in self._ins.items():
            for ep in self.spec.inputs[p]:
                sock.connect(ep)
        return True
