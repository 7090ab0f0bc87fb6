"""``hot_pixel``: streaming hot-pixel removal (one filter, one module: params, slots, state, kernels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import _prefetch
from spikestream.events._filter_base import EventFilter, State, _need_ints


@dataclass(frozen=True)
class HotPixelParams:
    window_us: int = 100_000
    max_events: int = 100  # per pixel per window; above it the pixel is hot

    def __post_init__(self):
        _need_ints("hot_pixel", self, window_us=1, max_events=1)
        if self.max_events >= 2**31 - 1:
            raise ValueError("event filter 'hot_pixel': max_events must be below 2**31 - 1")


P = slots("width", "window_us", "max_events", "counts")
SC = slots("lo", "hi", "window")  # scratch: the cached window [lo, hi) and its index mod 2**31


@njit(cache=True)
def start_hot_pixel(o, prm, sc):
    sc[o, SC.lo] = 1  # empty cached window: the first event computes its window
    sc[o, SC.hi] = 0


@njit(cache=True)
def prefetch_hot_pixel(o, prm, st64, st32, xa, ya):
    _prefetch(st32, prm[o, P.counts] + 2 * (ya * prm[o, P.width] + xa))


@njit(cache=True)
def step_hot_pixel(o, prm, st64, st32, sc, xi, yi, ti, pi):
    """Aligned windows ``[k w, (k+1) w)``; per pixel ``(window index mod 2**31, count in it - 2**31 if the
    window before had more than max_events)``; a division only when time leaves the cached window; counts
    saturate at max_events + 1."""
    width, window_us, max_events, off = prm[o, P.width], prm[o, P.window_us], prm[o, P.max_events], prm[o, P.counts]
    if ti < sc[o, SC.lo] or ti >= sc[o, SC.hi]:
        wl = ti // window_us
        sc[o, SC.lo] = wl * window_us
        sc[o, SC.hi] = sc[o, SC.lo] + window_us
        sc[o, SC.window] = wl & 0x7FFFFFFF
    w = sc[o, SC.window]
    j = off + 2 * (yi * width + xi)
    s0 = np.int64(st32[j])
    v = np.int64(st32[j + 1])  # count (31 bits), sign bit: "hot in the window before"
    c = v & 0x7FFFFFFF
    same = w == s0  # selects, not branches: the pattern is random and mispredictions dominate
    hot_before = (v < 0) if same else (w == ((s0 + 1) & 0x7FFFFFFF) and c > max_events)
    c = min(c + 1, max_events + 1) if same else np.int64(1)
    st32[j] = w
    st32[j + 1] = c - (np.int64(hot_before) << 31)
    return c <= max_events and not hot_before, xi, yi


class HotPixelFilter(EventFilter, kind="hot_pixel"):
    """Streaming hot-pixel removal: a pixel firing more than ``max_events`` in an aligned window of
    ``window_us`` is muted for the rest of that window and the whole next one (and so on while it stays hot)."""

    Params = HotPixelParams
    slots = P
    # per pixel (window index mod 2**31, count in it + 2**31 if the window before it was hot) as int32:
    # 8 bytes a pixel; counts saturate at max_events + 1; window -1: none yet
    state = {"counts": State(np.int32, (-1, 0))}
    n_scratch = len(SC)
    step, start, prefetch = step_hot_pixel, start_hot_pixel, prefetch_hot_pixel
