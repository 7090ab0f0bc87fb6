"""Say so when a node compiles kernels: a fresh install (or a changed kernel) makes Numba compile on first use,
for seconds to tens of seconds, and without a word the node just looks stuck and its first outputs are late.

`watch(log)` listens to Numba's ``numba:compile`` event, which fires only on a cache miss (a kernel loaded
from the on-disk cache is silent): the first compile logs a WARNING naming the kernel and the fix
(`spikestream warmup` compiles them all into the cache once), each later one a DEBUG line, and each finished
compile an INFO line with the count so far and the time it took (the progress of a first start).

The runtime compiles a node's kernels in `Node.warm`, before the node reports ready (`runtime.loop`), then
calls `Compiles.set_ready`: a compile after that one stalls messages that are already queued, so it is counted
(`late`, the node's ``late_compiles`` stat) and the first one logged as a WARNING naming the kernel.
"""

from __future__ import annotations

import logging
import sys
import time


class Compiles:
    """Counts the compiles of one process (the `numba:compile` listener that `watch` registers)."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self.depth = 0  # nested compiles (a kernel compiling the jitted helpers it calls) count as one
        self.n = 0  # compiles finished
        self.late = 0  # compiles begun after `set_ready`
        self.ready = False
        self.t0 = 0.0
        self._warned = False

    def set_ready(self) -> None:
        self.ready = True

    def on_start(self, name: str) -> None:
        if self.depth == 0:
            self.t0 = time.perf_counter()
            if self.ready:
                self.late += 1
                if self.late == 1:
                    self.log.warning("compiling kernel %s after the node reported ready: messages wait meanwhile "
                                     "(the node's warm() does not reach this kernel; counted as late_compiles)", name)
                else:
                    self.log.debug("compiling kernel %s (late)", name)
            elif not self._warned:
                self._warned = True
                self.log.warning("compiling kernel %s (not in Numba's cache; `spikestream warmup` once after an "
                                 "install compiles every kernel ahead)", name)
            else:
                self.log.debug("compiling kernel %s", name)
        self.depth += 1

    def on_end(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.n += 1
            self.log.info("compiled %d kernel(s) so far; the last took %.1f s", self.n, time.perf_counter() - self.t0)


def watch(log: logging.Logger) -> Compiles | None:
    """Start listening if Numba is loaded in this process (a node that uses no kernel does not pay its import).
    Returns the counter, or None when Numba is not loaded (call again once it may be)."""
    if "numba" not in sys.modules:
        return None
    from numba.core import event

    compiles = Compiles(log)

    class _Listener(event.Listener):
        def on_start(self, ev):
            compiles.on_start(getattr(getattr(ev.data.get("dispatcher"), "py_func", None), "__qualname__", "?"))

        def on_end(self, ev):
            compiles.on_end()

    event.register("numba:compile", _Listener())
    return compiles
