"""``roi``: keep a rectangle of the sensor, optionally cropped to it (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from numba import njit

from spikestream._codegen import slots
from spikestream.events._filter_base import EventFilter, _need_ints


@dataclass(frozen=True)
class RoiParams:
    x: int = 0
    y: int = 0
    width: int = 1
    height: int = 1
    crop: bool = True  # True: shift coordinates so the ROI's corner is (0, 0) and the sensor shrinks to it

    def __post_init__(self):
        _need_ints("roi", self, x=0, y=0, width=1, height=1)


P = slots("x", "y", "width", "height", "crop")


@njit(cache=True)
def step_roi(o, prm, st64, st32, sc, xi, yi, ti, pi):
    x0, y0 = prm[o, P.x], prm[o, P.y]
    ok = xi >= x0 and xi < x0 + prm[o, P.width] and yi >= y0 and yi < y0 + prm[o, P.height]
    if ok and prm[o, P.crop] != 0:
        xi -= x0
        yi -= y0
    return ok, xi, yi


class RoiFilter(EventFilter, kind="roi"):
    """Region of interest: keep events with ``x <= ex < x + width`` and ``y <= ey < y + height``."""

    Params = RoiParams
    slots = P
    step = step_roi
    remaps = True

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        p = self.params
        if p.x + p.width > self.width or p.y + p.height > self.height:
            raise ValueError(f"event filter 'roi': region x={p.x} y={p.y} {p.width}x{p.height} exceeds the "
                             f"{self.width}x{self.height} sensor")

    @property
    def out_width(self) -> int:
        return self.params.width if self.params.crop else self.width

    @property
    def out_height(self) -> int:
        return self.params.height if self.params.crop else self.height
