"""``refractory``: drop an event that follows its pixel's previous one too closely (one filter, one module:
params, named slots, state, kernels; a template for a new filter)."""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from spikestream._codegen import slots
from spikestream.events._chain_kernel import NEVER32, REBASE_US, _prefetch, _rebase
from spikestream.events._filter_base import RELATIVE_TIMES, EventFilter, _need_int


@dataclass(frozen=True)
class RefractoryParams:
    period_us: int = 1_000
    extend: bool = False  # True: every event (also a dropped one) restarts the period, as tonic does

    def __post_init__(self):
        _need_int("refractory", "period_us", self.period_us, 0)
        if self.period_us >= REBASE_US:
            raise ValueError(f"event filter 'refractory': period_us must be below 2**30 (17.9 min), got {self.period_us}")


#: the kernel's integer parameters, then the arena offsets of the state arrays `last` and `base`
P = slots("width", "period_us", "extend", "n_pix", "last", "base")


@njit(cache=True)
def prefetch_refractory(o, prm, st64, st32, xa, ya):
    _prefetch(st32, prm[o, P.last] + ya * prm[o, P.width] + xa)


@njit(cache=True)
def step_refractory(o, prm, st64, st32, sc, xi, yi, ti, pi):
    """``t - last > period``; ``last`` updated on kept events (or every event with ``extend``); int32 times
    relative to the filter's base (`_rebase`)."""
    width, period_us, extend, n_pix, off = (prm[o, P.width], prm[o, P.period_us], prm[o, P.extend],
                                            prm[o, P.n_pix], prm[o, P.last])
    rt = ti - st64[prm[o, P.base]]
    if rt >= REBASE_US:
        rt = _rebase(st32, off, n_pix, st64, prm[o, P.base], ti)
    j = off + yi * width + xi
    ok = rt - st32[j] > period_us
    if ok or extend != 0:
        st32[j] = max(rt, NEVER32)
    return ok, xi, yi


class RefractoryFilter(EventFilter, kind="refractory"):
    """Drop an event that follows its pixel's previous event by ``period_us`` or less."""

    Params = RefractoryParams
    slots = P
    state = RELATIVE_TIMES
    step, prefetch = step_refractory, prefetch_refractory
