"""``polarity``: keep only ON or only OFF events (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from spikestream._codegen import slots
from spikestream.events._filter_base import EventFilter


@dataclass(frozen=True)
class PolarityParams:
    keep: str = "on"  # "on" or "off"

    def __post_init__(self):
        if self.keep not in ("on", "off"):
            raise ValueError(f"event filter 'polarity': keep must be 'on' or 'off', got {self.keep!r}")


P = slots("on")


@njit(cache=True)
def step_polarity(o, prm, st64, st32, sc, xi, yi, ti, pi):
    return (pi != 0) == (prm[o, P.on] != 0), xi, yi


class PolarityFilter(EventFilter, kind="polarity"):
    """Keep only ON (p = 1) or only OFF (p = 0) events. Merging polarities is the slicer's job."""

    Params = PolarityParams
    slots = P
    step = step_polarity

    def _prm(self) -> dict[str, int]:
        return {"on": self.params.keep == "on"}
