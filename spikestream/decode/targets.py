"""The target rows a decoder calibrates and is scored on, kept by time.

Targets travel on their own stream and may run ahead of the spikes they label (in a fast replay they come
straight from the source while the spikes wait in the SNN's queue), so the output keeps the latest `cap`
rows and looks up, for each decision, the latest row at or before its time.
"""

from __future__ import annotations

import numpy as np


class TargetBuffer:
    """The newest `cap` rows ``[t_us] -> [values]``, times increasing. Appending is amortised O(rows added):
    the arrays hold up to twice `cap` rows and the newest `cap` move to the front when they are full (a plain
    concatenate-and-trim copies the whole buffer on every message)."""

    def __init__(self, cap: int):
        if cap < 1:
            raise ValueError("TargetBuffer: cap must be >= 1")
        self.cap = cap
        self.clear(0)

    def clear(self, width: int | None = None) -> None:
        """Forget every row (and set the row width, when given)."""
        w = self.width if width is None else width
        self._t = np.zeros(2 * self.cap, np.int64)
        self._d = np.zeros((2 * self.cap, w))
        self._lo = self._hi = 0

    @property
    def width(self) -> int:
        return self._d.shape[1]

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def last_t(self) -> int | None:
        return int(self._t[self._hi - 1]) if self._hi > self._lo else None

    def append(self, t_us: np.ndarray, rows: np.ndarray) -> None:
        """Rows (2-d, `width` columns) at increasing times after `last_t`; only the newest `cap` are kept."""
        n = t_us.size
        if n > self.cap:
            t_us, rows, n = t_us[-self.cap:], rows[-self.cap:], self.cap
        if self._hi + n > self._t.size:  # full: the newest rows to the front
            keep = min(self._hi - self._lo, self.cap - n)
            a = self._hi - keep
            self._t[:keep] = self._t[a:self._hi]
            self._d[:keep] = self._d[a:self._hi]
            self._lo, self._hi = 0, keep
        self._t[self._hi:self._hi + n] = t_us
        self._d[self._hi:self._hi + n] = rows
        self._hi += n
        self._lo = max(self._lo, self._hi - self.cap)

    def at(self, t_us: int, max_age_us: float) -> np.ndarray | None:
        """The latest row at or before `t_us`, if it is at most `max_age_us` older; else None."""
        i = int(np.searchsorted(self._t[self._lo:self._hi], t_us, side="right")) - 1
        if i < 0 or t_us - self._t[self._lo + i] > max_age_us:
            return None
        return self._d[self._lo + i].copy()  # a copy: the buffer's rows move when it is compacted
