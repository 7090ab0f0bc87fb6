"""What live sources share: the chunk they return and the checks every incoming row passes.

`read(max_samples)` returns a `Chunk` (unpacks as ``t_us, data``) whose ``origin_ns`` is the wall time
(``time.time_ns()``) at which its oldest row was acquired. `TimeChecker` admits rows: finite values only,
timestamps strictly after everything admitted before, and it counts gaps (a step longer than
``gap_factor`` nominal periods) and the samples they lost. Counters live in ``source.stats``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

NO_TIME = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class Chunk:
    t_us: np.ndarray  # int64 [n]
    data: np.ndarray  # float32 [n, C]
    origin_ns: int = 0

    def __iter__(self):
        return iter((self.t_us, self.data))

    def __len__(self) -> int:
        return 2


def empty_chunk(n_channels: int) -> Chunk:
    return Chunk(np.empty(0, np.int64), np.empty((0, n_channels), np.float32), 0)


class TimeChecker:
    """Admit rows of a stream and count what is wrong with the rest (see module docstring)."""

    def __init__(self, rate_hz: float, stats: dict, log: logging.Logger, name: str, gap_factor: float = 1.5):
        if gap_factor <= 1:
            raise ValueError(f"gap_factor must be > 1, got {gap_factor}")
        self.period_us = 1e6 / rate_hz if rate_hz and rate_hz > 0 else 0.0
        self.gap_factor = float(gap_factor)
        self.stats = stats
        self.log = log
        self.name = name
        self.last_t = NO_TIME
        self._quiet_until = 0.0  # warnings at most once per `log_every_s`; counters always
        self.log_every_s = 1.0
        for k in ("samples", "gaps", "missing_samples", "rejected_time", "rejected_nonfinite"):
            stats.setdefault(k, 0)

    def admit(self, t_us: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if t_us.size == 0:
            return t_us, data
        keep = np.empty(t_us.size, np.bool_)
        counts = np.zeros(4, np.int64)  # nonfinite, time, gaps, missing
        last = _admit_kernel(t_us, data, self.last_t, self.period_us, self.gap_factor, keep, counts)
        bad_val, bad_t, gaps, missing = (int(v) for v in counts)
        if bad_val:
            self.stats["rejected_nonfinite"] += bad_val
            self._warn("dropped %d row(s) holding NaN/inf", bad_val)
        if bad_t:
            self.stats["rejected_time"] += bad_t
            self._warn("dropped %d row(s) whose timestamps did not increase", bad_t)
        if gaps:
            self.stats["gaps"] += gaps
            self.stats["missing_samples"] += missing
            self._warn("%d gap(s) in the timestamps, about %d sample(s) missing", gaps, missing)
        if bad_val or bad_t:
            t_us, data = t_us[keep], data[keep]
        self.last_t = int(last)
        self.stats["samples"] += int(t_us.size)
        return t_us, data

    def _warn(self, fmt: str, *args) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            return
        self._quiet_until = now + self.log_every_s
        s = self.stats
        self.log.warning(f"%s: {fmt} (totals: gaps %d, missing %d, rejected time %d, rejected NaN/inf %d)", self.name,
                         *args, s["gaps"], s["missing_samples"], s["rejected_time"], s["rejected_nonfinite"])


@njit(cache=True)
def _admit_kernel(t_us, data, last_t, period_us, gap_factor, keep, counts):
    """Mark the rows to keep (finite, time after every earlier time); count rejections and gaps between
    kept rows (a step > gap_factor periods; about round(step / period) - 1 samples missing)."""
    n, c = data.shape
    for i in range(n):
        ok = True
        for k in range(c):
            v = data[i, k]
            if not (v - v == 0.0):
                ok = False
                break
        if not ok:
            keep[i] = False
            counts[0] += 1
            continue
        t = t_us[i]
        if t <= last_t:
            keep[i] = False
            counts[1] += 1
            continue
        keep[i] = True
        if period_us > 0.0 and last_t != NO_TIME:
            step = t - last_t
            if step > gap_factor * period_us:
                counts[2] += 1
                counts[3] += np.int64(np.round(step / period_us)) - 1
        last_t = t
    return last_t
