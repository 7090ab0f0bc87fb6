"""``background_activity``: Delbruck's nearest-neighbour noise filter (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import NEVER32, REBASE_US, _prefetch, _rebase
from spikestream.events._filter_base import RELATIVE_TIMES, EventFilter, _need_int


@dataclass(frozen=True)
class BackgroundActivityParams:
    dt_us: int = 10_000
    neighbourhood: int = 8  # 4 or 8
    include_self: bool = False

    def __post_init__(self):
        _need_int("background_activity", "dt_us", self.dt_us, 1)
        if self.dt_us > REBASE_US:
            raise ValueError(f"event filter 'background_activity': dt_us must be at most 2**30 (17.9 min), got {self.dt_us}")
        if self.neighbourhood not in (4, 8):
            raise ValueError(f"event filter 'background_activity': neighbourhood must be 4 or 8, got {self.neighbourhood!r}")


P = slots("width", "height", "dt_us", "diagonal", "include_self", "last", "base")


@njit(cache=True)
def prefetch_background(o, prm, st64, st32, xa, ya):
    c = prm[o, P.last] + ya * prm[o, P.width] + xa
    _prefetch(st32, c)
    if ya > 0:
        _prefetch(st32, c - prm[o, P.width])
    if ya + 1 < prm[o, P.height]:
        _prefetch(st32, c + prm[o, P.width])


@njit(cache=True)
def step_background(o, prm, st64, st32, sc, xi, yi, ti, pi):
    """A neighbour (own row first, early exit) fired less than ``dt`` before; every event refreshes its own
    pixel; int32 times relative to the filter's base (`_rebase`)."""
    width, height, dt_us = prm[o, P.width], prm[o, P.height], prm[o, P.dt_us]
    diagonal, include_self, off = prm[o, P.diagonal] != 0, prm[o, P.include_self] != 0, prm[o, P.last]
    rt = ti - st64[prm[o, P.base]]
    if rt >= REBASE_US:
        rt = _rebase(st32, off, width * height, st64, prm[o, P.base], ti)
    c = off + yi * width + xi
    left = xi > 0
    right = xi + 1 < width
    ok = (include_self and rt - st32[c] < dt_us) or (left and rt - st32[c - 1] < dt_us) or \
         (right and rt - st32[c + 1] < dt_us)
    if not ok and yi > 0:
        r = c - width
        ok = rt - st32[r] < dt_us or (diagonal and ((left and rt - st32[r - 1] < dt_us) or
                                                    (right and rt - st32[r + 1] < dt_us)))
    if not ok and yi + 1 < height:
        r = c + width
        ok = rt - st32[r] < dt_us or (diagonal and ((left and rt - st32[r - 1] < dt_us) or
                                                    (right and rt - st32[r + 1] < dt_us)))
    st32[c] = max(rt, NEVER32)
    return ok, xi, yi


class BackgroundActivityFilter(EventFilter, kind="background_activity"):
    """Delbruck's background-activity (nearest-neighbour) noise filter: an event passes when a neighbour
    fired within ``dt_us`` before it. Isolated noise events have no such support."""

    Params = BackgroundActivityParams
    slots = P
    state = RELATIVE_TIMES
    step, prefetch = step_background, prefetch_background

    def _prm(self) -> dict[str, int]:
        p = self.params
        return {"width": self.width, "height": self.height, "dt_us": p.dt_us, "diagonal": p.neighbourhood == 8,
                "include_self": p.include_self}
