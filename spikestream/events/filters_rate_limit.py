"""``rate_limit``: at most ``max_events`` per aligned window, the whole sensor (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import NEVER
from spikestream.events._filter_base import EventFilter, State, _need_ints


@dataclass(frozen=True)
class RateLimitParams:
    window_us: int = 1_000
    max_events: int = 10_000  # whole sensor, per aligned window

    def __post_init__(self):
        _need_ints("rate_limit", self, window_us=1, max_events=0)


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


class RateLimitFilter(EventFilter, kind="rate_limit"):
    """Keep at most ``max_events`` per aligned window of ``window_us`` (the first ones), dropping the rest:
    a hard bound on the load passed downstream."""

    Params = RateLimitParams
    slots = P
    state = {"window": State(np.int64, (NEVER, 0), per_pixel=False)}  # (aligned window index, count in it)
    step = step_rate_limit
