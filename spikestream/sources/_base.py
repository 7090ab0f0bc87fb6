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
        finite = np.isfinite(data).all(axis=1)
        if not finite.all():
            bad = int((~finite).sum())
            self.stats["rejected_nonfinite"] += bad
            self._warn("dropped %d row(s) holding NaN/inf", bad)
            t_us, data = t_us[finite], data[finite]
            if t_us.size == 0:
                return t_us, data
        prev = np.maximum.accumulate(np.concatenate(([self.last_t], t_us[:-1])))
        ok = t_us > prev
        if not ok.all():
            bad = int((~ok).sum())
            self.stats["rejected_time"] += bad
            self._warn("dropped %d row(s) whose timestamps did not increase", bad)
            t_us, data = t_us[ok], data[ok]
            if t_us.size == 0:
                return t_us, data
        if self.period_us > 0:
            steps = np.diff(t_us) if self.last_t == NO_TIME else np.diff(np.concatenate(([self.last_t], t_us)))
            big = steps > self.gap_factor * self.period_us
            if big.any():
                lost = int(np.sum(np.round(steps[big] / self.period_us) - 1))
                self.stats["gaps"] += int(big.sum())
                self.stats["missing_samples"] += lost
                self._warn("%d gap(s) in the timestamps, about %d sample(s) missing", int(big.sum()), lost)
        self.last_t = int(t_us[-1])
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
