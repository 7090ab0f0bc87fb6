"""``downsample``: spatial downsampling by integer factors (one filter, one module)."""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from spikestream._codegen import slots
from spikestream.events._filter_base import EventFilter, _need_ints


@dataclass(frozen=True)
class DownsampleParams:
    factor: int = 2  # both axes, unless factor_x / factor_y are given
    factor_x: int = 0
    factor_y: int = 0

    def __post_init__(self):
        _need_ints("downsample", self, factor=1, factor_x=0, factor_y=0)

    @property
    def fx(self) -> int:
        return self.factor_x or self.factor

    @property
    def fy(self) -> int:
        return self.factor_y or self.factor


def _reciprocal(f: int) -> int:
    """``m`` with ``(x * m) >> 32 == x // f`` for every uint16 x. With ``m = ceil(2**32 / f)`` the error
    ``x (m - 2**32 / f) / 2**32`` stays below ``2**-16 < 1 / f`` for f < 2**16; larger factors map to 0."""
    return -(-(1 << 32) // f) if f < (1 << 16) else 0


P = slots("fx", "fy", "mx", "my")


@njit(cache=True)
def step_downsample(o, prm, st64, st32, sc, xi, yi, ti, pi):
    # x // f as (x * ceil(2**32 / f)) >> 32: exact for x, f < 2**16 (a multiply and a shift instead of a
    # 64-bit division, tens of cycles an event: see _reciprocal)
    return True, (xi * prm[o, P.mx]) >> 32, (yi * prm[o, P.my]) >> 32


class DownsampleFilter(EventFilter, kind="downsample"):
    """Spatial downsampling by integer factors: ``x // fx, y // fy``; every event is kept (follow with
    `refractory` or `decimate` to thin the merged pixels)."""

    Params = DownsampleParams
    slots = P
    step = step_downsample
    remaps = True

    @property
    def out_width(self) -> int:
        return -(-self.width // self.params.fx)

    @property
    def out_height(self) -> int:
        return -(-self.height // self.params.fy)

    def _prm(self) -> dict[str, int]:
        fx, fy = self.params.fx, self.params.fy
        return {"fx": fx, "fy": fy, "mx": _reciprocal(fx), "my": _reciprocal(fy)}
