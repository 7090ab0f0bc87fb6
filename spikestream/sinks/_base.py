"""The sink contract, and the bounded hand-off every sink uses so that `publish` never blocks.

A sink: ``open(n_outputs, names)`` once (the node calls it from setup), ``publish(values, t_us, safe, names,
origin_ns)`` per control value - it must return at once - then ``stats()`` and ``close()``. Anything that may
block (a file on an SD card, a broker) runs in a worker thread fed through `DropOldest`: a bounded queue
that, when full, drops the oldest item and counts it (for a controller the newest command matters).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np


class Sink:
    def open(self, n_outputs: int, names: list[str]) -> None:
        """Told once, before the first publish, how many values and which names to expect."""

    def publish(self, values: np.ndarray, t_us: int, safe: bool = False, names: list[str] | None = None,
                origin_ns: int = 0) -> None:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


def control_record(values: np.ndarray, t_us: int, safe: bool, names: list[str] | None, origin_ns: int) -> dict:
    """The JSON-friendly record text sinks write: ``{"t_us", "origin_ns", "safe", "values", "names", "wall_ns"}``."""
    return {"t_us": int(t_us), "origin_ns": int(origin_ns), "safe": bool(safe),
            "values": [float(v) for v in values], "names": list(names or []), "wall_ns": time.time_ns()}


class DropOldest:
    """A bounded, thread-safe FIFO: `put` never blocks; when full the oldest item is dropped and counted."""

    def __init__(self, maxlen: int):
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"queue length must be a positive integer, got {maxlen!r}")
        self._q: collections.deque = collections.deque(maxlen=maxlen)
        self._cv = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item: Any) -> bool:
        """Returns True when the queue was empty before (so a consumer may need waking)."""
        with self._cv:
            was_empty = not self._q
            if len(self._q) == self._q.maxlen:
                self.dropped += 1
            self._q.append(item)
            self._cv.notify()
        return was_empty

    def get_all(self, timeout: float | None = None) -> list:
        """Everything queued (oldest first); waits up to ``timeout`` for something to arrive."""
        with self._cv:
            if not self._q and not self.closed:
                self._cv.wait(timeout)
            items = list(self._q)
            self._q.clear()
        return items

    def requeue_front(self, items: list) -> None:
        """Put items taken earlier back in front of newer ones (order kept); those that no longer fit are
        the oldest and are dropped and counted."""
        with self._cv:
            space = self._q.maxlen - len(self._q)
            keep = items[len(items) - space:] if space > 0 else []
            self.dropped += len(items) - len(keep)
            self._q.extendleft(reversed(keep))
            self._cv.notify()

    def drop_where(self, pred) -> int:
        """Remove (and return the number of) queued items for which ``pred(item)`` is true."""
        with self._cv:
            kept = [it for it in self._q if not pred(it)]
            n = len(self._q) - len(kept)
            self._q.clear()
            self._q.extend(kept)
        return n

    def __len__(self) -> int:
        return len(self._q)

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()


class ThreadedSink(Sink):
    """A sink whose blocking `_write(records)` runs in its own thread behind a `DropOldest` queue."""

    def __init__(self, queue: int = 256, name: str = "sink"):
        self.queue = DropOldest(int(queue))
        self.written = 0
        self.failed = 0
        self.put_count = 0
        self._thread = threading.Thread(target=self._run, name=f"spikestream-{name}", daemon=True)
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def publish(self, values, t_us, safe=False, names=None, origin_ns=0) -> None:
        self._start()
        self.put_count += 1
        self.queue.put(control_record(values, t_us, safe, names, origin_ns))

    def _run(self) -> None:
        while True:
            items = self.queue.get_all(timeout=0.5)
            if items:
                try:
                    self._write(items)
                    self.written += len(items)
                except Exception:  # counted; the node sees it in stats
                    self.failed += len(items)
            elif self.queue.closed:
                break
        self._finish()

    def _write(self, records: list[dict]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self) -> None:
        pass

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (bounded) until everything queued so far is written. For tests and close()."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.written + self.failed + self.queue.dropped >= self.put_count:
                return True
            time.sleep(0.005)
        return False

    def stats(self) -> dict[str, Any]:
        return {"written": self.written, "dropped": self.queue.dropped, "failed": self.failed, "queued": len(self.queue)}

    def close(self, timeout: float = 5.0) -> None:
        self.queue.close()
        if self._started:
            self._thread.join(timeout)
        else:
            self._finish()
