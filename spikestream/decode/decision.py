"""Decisions over time for discrete outputs, as library pieces the output node (or a notebook) uses:
a majority vote over the last N decisions (Englehart & Hudgins 2003), a confusion matrix of the
evaluated ones, and how long a label has held (so that a window still holding the previous gesture neither
teaches a classifier nor is scored as if it were a clean one)."""

from __future__ import annotations

from typing import Any

import numpy as np


class MajorityVote:
    """The most frequent label among the last ``n`` decisions; a tie goes to the label decided most recently
    among the tied ones. ``n = 1`` passes every decision through."""

    def __init__(self, n: int):
        self.n = int(n)
        self._buf = np.zeros(self.n, np.int64)
        self._k = 0  # decisions since the last reset

    def reset(self) -> None:
        self._k = 0

    def __call__(self, label: int) -> int:
        if self.n == 1:
            return label
        self._buf[self._k % self.n] = label
        self._k += 1
        m = min(self._k, self.n)
        recent = self._buf[(self._k - 1 - np.arange(m)) % self.n]  # most recent first
        _, first, counts = np.unique(recent, return_index=True, return_counts=True)
        return int(recent[first[counts == counts.max()].min()])


class LabelHold:
    """How long the current label has held, in source time: `update(label, until_us)` for each labelled
    packet (ending at ``until_us``) returns the microseconds since the end of the last packet labelled
    otherwise. The first label ever counts from its own packet's end (what came before is unknown), so its
    first window is never taken as clean. Packets without a label do not restart the count."""

    def __init__(self):
        self.label, self.since_us, self.prev_us = None, 0, None

    def update(self, label: int, until_us: int) -> int:
        if label != self.label:
            self.label = label
            self.since_us = until_us if self.prev_us is None else self.prev_us
        self.prev_us = until_us
        return until_us - self.since_us


class Confusion:
    """Counts of (true label, decided label) over the evaluated decisions."""

    def __init__(self, n_classes: int):
        self.m = np.zeros((n_classes, n_classes), np.int64)
        self.other = 0  # decisions outside the classes (a WTA's rest label): wrong, and not in the matrix

    def add(self, true: int, decided: int) -> None:
        if 0 <= decided < self.m.shape[0]:
            self.m[true, decided] += 1
        else:
            self.other += 1

    def summary(self) -> dict[str, Any]:
        n = int(self.m.sum()) + self.other
        c = int(np.trace(self.m))
        return {"decisions": n, "correct": c, "accuracy": c / n if n else None, "confusion": self.m.tolist(),
                "decided_other": self.other}
