"""``decimate``: keep every n-th event of each pixel (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import _prefetch
from spikestream.events._filter_base import EventFilter, State, _need_int


@dataclass(frozen=True)
class DecimateParams:
    n: int = 2

    def __post_init__(self):
        _need_int("decimate", "n", self.n, 1)


P = slots("width", "n", "count")


@njit(cache=True)
def prefetch_decimate(o, prm, st64, st32, xa, ya):
    _prefetch(st64, prm[o, P.count] + ya * prm[o, P.width] + xa)


@njit(cache=True)
def step_decimate(o, prm, st64, st32, sc, xi, yi, ti, pi):
    j = prm[o, P.count] + yi * prm[o, P.width] + xi
    c64 = st64[j] + 1
    ok = c64 >= prm[o, P.n]
    st64[j] = 0 if ok else c64
    return ok, xi, yi


class DecimateFilter(EventFilter, kind="decimate"):
    """Time decimation: keep every n-th event of each pixel."""

    Params = DecimateParams
    slots = P
    state = {"count": State(np.int64, 0)}  # events since the last kept one, per pixel
    step, prefetch = step_decimate, prefetch_decimate
