"""``rate_limit``: at most ``max_events`` per aligned window, the whole sensor (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import NEVER
from spikestream.events._filter_base import EventFilter, _need_int
from spikestream.registry import EVENT_FILTERS


@dataclass(frozen=True)
class RateLimitParams:
    window_us: int = 1_000
    max_events: int = 10_000  # whole sensor, per aligned window

    def __post_init__(self):
        _need_int("rate_limit", "window_us", self.window_us, 1)
        _need_int("rate_limit", "max_events", self.max_events, 0)


P = slots("window_us", "max_events", "window")


@njit(cache=True)
def step_rate_limit(o, prm, st64, st32, sc, xi, yi, ti, pi):
    """The first ``max_events`` per aligned window; state ``(window, count)``."""
    j = prm[o, P.window]
    wl = ti // prm[o, P.window_us]
    if wl != st64[j]:
        st64[j] = wl
        st64[j + 1] = 0
    st64[j + 1] += 1
    return st64[j + 1] <= prm[o, P.max_events], xi, yi


@EVENT_FILTERS.register("rate_limit")
class RateLimitFilter(EventFilter):
    """Keep at most ``max_events`` per aligned window of ``window_us`` (the first ones), dropping the rest:
    a hard bound on the load passed downstream."""

    kind = "rate_limit"
    Params = RateLimitParams
    slots = P
    _state_names = ("window",)
    step = step_rate_limit

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._window = np.array([NEVER, 0], np.int64)

    def _prm(self) -> dict[str, int]:
        return {"window_us": self.params.window_us, "max_events": self.params.max_events}
