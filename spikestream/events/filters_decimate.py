"""``decimate``: keep every n-th event of each pixel (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import _prefetch
from spikestream.events._filter_base import EventFilter, _need_int
from spikestream.registry import EVENT_FILTERS


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


@EVENT_FILTERS.register("decimate")
class DecimateFilter(EventFilter):
    """Time decimation: keep every n-th event of each pixel."""

    kind = "decimate"
    Params = DecimateParams
    slots = P
    _state_names = ("count",)
    step, prefetch = step_decimate, prefetch_decimate

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._count = np.zeros(self.width * self.height, np.int64)

    def _prm(self) -> dict[str, int]:
        return {"width": self.width, "n": self.params.n}
