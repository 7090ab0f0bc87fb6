"""Say so when a node compiles kernels: a fresh install (or a changed kernel) makes Numba compile on first use,
for seconds to tens of seconds, and without a word the node just looks stuck and its first outputs are late.

`watch(log)` listens to Numba's ``numba:compile`` event, which fires only on a cache miss (a kernel loaded
from the on-disk cache is silent): the first compile logs a WARNING naming the kernel and the fix
(`spikestream warmup` compiles them all into the cache once), each later one a DEBUG line, and each finished
compile an INFO line with the count so far and the time it took.
"""

from __future__ import annotations

import logging
import sys
import time


def watch(log: logging.Logger) -> bool:
    """Start listening if Numba is loaded in this process (a node that uses no kernel does not pay its import).
    Returns whether it listens."""
    if "numba" not in sys.modules:
        return False
    from numba.core import event

    class _Compiles(event.Listener):
        def __init__(self):
            self.depth, self.n, self.t0, self.warned = 0, 0, 0.0, False

        def on_start(self, ev):
            if self.depth == 0:
                self.t0 = time.perf_counter()
                name = getattr(getattr(ev.data.get("dispatcher"), "py_func", None), "__qualname__", "?")
                if not self.warned:
                    self.warned = True
                    log.warning("compiling kernel %s (not in Numba's cache; `spikestream warmup` once after an "
                                "install compiles every kernel ahead)", name)
                else:
                    log.debug("compiling kernel %s", name)
            self.depth += 1

        def on_end(self, ev):
            self.depth -= 1
            if self.depth == 0:
                self.n += 1
                log.info("compiled %d kernel(s) so far; the last took %.1f s", self.n, time.perf_counter() - self.t0)

    event.register("numba:compile", _Compiles())
    return True
