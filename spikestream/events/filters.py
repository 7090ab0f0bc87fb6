"""Causal, streaming, chunk-invariant event filters, each a frozen params dataclass plus a jitted kernel.

A filter is built for a sensor size, ``F(width, height, **params)``, and called on consecutive chunks of
`EVENT_DTYPE` events in time order: ``out = f(events)``. Per-pixel state (last timestamps, counters) lives in
explicit arrays (`get_state` / `set_state`), so any split of a stream into chunks gives exactly the output of
the whole stream. Filters that change the geometry (`roi` with crop, `downsample`) expose ``out_width`` /
``out_height``. A pipeline names a chain as a list of ``{kind = "...", ...}`` maps (`FilterChain`).

"Never fired" is a sentinel far in the past, so the first event of a pixel never counts as a neighbour or a
refractory cause. A chain runs as one fused jitted pass (`_run_chain`, each filter an op); per-pixel state is
kept small (int32 relative timestamps, 8-byte hot-pixel records) so the tables stay in cache. See
docs/event-streaming.md for each rule, its source and the state encodings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spikestream.events._chain_kernel import (  # noqa: F401  (N_PRM, _run_chain: re-exported)
    N_PRM, NEVER, NEVER32, OP_BACKGROUND, OP_DECIMATE, OP_DOWNSAMPLE, OP_HOT_PIXEL, OP_POLARITY, OP_RATE_LIMIT,
    OP_REFRACTORY, OP_ROI, REBASE_US, _run_chain)
from spikestream.events._filter_base import EventFilter, _need_int, _PixelStateFilter, _Program  # noqa: F401
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.state import check_arrays
from spikestream.registry import EVENT_FILTERS, UnknownKind


# ------------------------------------------------------------------------------------------- the stages


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


@EVENT_FILTERS.register("background_activity")
class BackgroundActivityFilter(_PixelStateFilter):
    """Delbruck's background-activity (nearest-neighbour) noise filter: an event passes when a neighbour
    fired within ``dt_us`` before it. Isolated noise events have no such support."""

    kind = "background_activity"
    Params = BackgroundActivityParams
    _state_names = ("last", "base")

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._last = np.full(self.width * self.height, NEVER32, np.int32)  # t - base (see REBASE_US)
        self._base = np.array([NEVER], np.int64)  # the first event rebases

    code = OP_BACKGROUND

    def _prm(self) -> list[int]:
        p = self.params
        return [self.width, self.height, p.dt_us, p.neighbourhood == 8, p.include_self]


@dataclass(frozen=True)
class RefractoryParams:
    period_us: int = 1_000
    extend: bool = False  # True: every event (also a dropped one) restarts the period, as tonic does

    def __post_init__(self):
        _need_int("refractory", "period_us", self.period_us, 0)
        if self.period_us >= REBASE_US:
            raise ValueError(f"event filter 'refractory': period_us must be below 2**30 (17.9 min), got {self.period_us}")


@EVENT_FILTERS.register("refractory")
class RefractoryFilter(_PixelStateFilter):
    """Drop an event that follows its pixel's previous event by ``period_us`` or less."""

    kind = "refractory"
    Params = RefractoryParams
    _state_names = ("last", "base")

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._last = np.full(self.width * self.height, NEVER32, np.int32)  # t - base (see REBASE_US)
        self._base = np.array([NEVER], np.int64)  # the first event rebases

    code = OP_REFRACTORY

    def _prm(self) -> list[int]:
        return [self.width, self.params.period_us, self.params.extend, self.width * self.height]


@dataclass(frozen=True)
class HotPixelParams:
    window_us: int = 100_000
    max_events: int = 100  # per pixel per window; above it the pixel is hot

    def __post_init__(self):
        _need_int("hot_pixel", "window_us", self.window_us, 1)
        _need_int("hot_pixel", "max_events", self.max_events, 1)
        if self.max_events >= 2**31 - 1:
            raise ValueError("event filter 'hot_pixel': max_events must be below 2**31 - 1")


@EVENT_FILTERS.register("hot_pixel")
class HotPixelFilter(_PixelStateFilter):
    """Streaming hot-pixel removal: a pixel firing more than ``max_events`` in an aligned window of
    ``window_us`` is muted for the rest of that window and the whole next one (and so on while it stays hot)."""

    kind = "hot_pixel"
    Params = HotPixelParams
    _state_names = ("counts",)

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        # per pixel (window index mod 2**31, count in it + 2**31 if the window before it was hot) as int32:
        # 8 bytes a pixel; counts saturate at max_events + 1
        self._counts = np.zeros((self.width * self.height, 2), np.int32)
        self._counts[:, 0] = -1  # no window yet

    code = OP_HOT_PIXEL

    def _prm(self) -> list[int]:
        return [self.width, self.params.window_us, self.params.max_events]


@dataclass(frozen=True)
class DecimateParams:
    n: int = 2

    def __post_init__(self):
        _need_int("decimate", "n", self.n, 1)


@EVENT_FILTERS.register("decimate")
class DecimateFilter(_PixelStateFilter):
    """Time decimation: keep every n-th event of each pixel."""

    kind = "decimate"
    Params = DecimateParams
    _state_names = ("count",)

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._count = np.zeros(self.width * self.height, np.int64)

    code = OP_DECIMATE

    def _prm(self) -> list[int]:
        return [self.width, self.params.n]


@dataclass(frozen=True)
class RateLimitParams:
    window_us: int = 1_000
    max_events: int = 10_000  # whole sensor, per aligned window

    def __post_init__(self):
        _need_int("rate_limit", "window_us", self.window_us, 1)
        _need_int("rate_limit", "max_events", self.max_events, 0)


@EVENT_FILTERS.register("rate_limit")
class RateLimitFilter(_PixelStateFilter):
    """Keep at most ``max_events`` per aligned window of ``window_us`` (the first ones), dropping the rest:
    a hard bound on the load passed downstream."""

    kind = "rate_limit"
    Params = RateLimitParams

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._window = np.array([NEVER, 0], np.int64)

    code = OP_RATE_LIMIT
    _state_names = ("window",)

    def _prm(self) -> list[int]:
        return [self.params.window_us, self.params.max_events]


@dataclass(frozen=True)
class RoiParams:
    x: int = 0
    y: int = 0
    width: int = 1
    height: int = 1
    crop: bool = True  # True: shift coordinates so the ROI's corner is (0, 0) and the sensor shrinks to it

    def __post_init__(self):
        for n in ("x", "y"):
            _need_int("roi", n, getattr(self, n), 0)
        for n in ("width", "height"):
            _need_int("roi", n, getattr(self, n), 1)


@EVENT_FILTERS.register("roi")
class RoiFilter(EventFilter):
    """Region of interest: keep events with ``x <= ex < x + width`` and ``y <= ey < y + height``."""

    kind = "roi"
    Params = RoiParams

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

    code = OP_ROI

    def _prm(self) -> list[int]:
        p = self.params
        return [p.x, p.y, p.width, p.height, p.crop]


@dataclass(frozen=True)
class PolarityParams:
    keep: str = "on"  # "on" or "off"

    def __post_init__(self):
        if self.keep not in ("on", "off"):
            raise ValueError(f"event filter 'polarity': keep must be 'on' or 'off', got {self.keep!r}")


@EVENT_FILTERS.register("polarity")
class PolarityFilter(EventFilter):
    """Keep only ON (p = 1) or only OFF (p = 0) events. Merging polarities is the slicer's job."""

    kind = "polarity"
    Params = PolarityParams

    code = OP_POLARITY

    def _prm(self) -> list[int]:
        return [self.params.keep == "on"]


@dataclass(frozen=True)
class DownsampleParams:
    factor: int = 2  # both axes, unless factor_x / factor_y are given
    factor_x: int = 0
    factor_y: int = 0

    def __post_init__(self):
        _need_int("downsample", "factor", self.factor, 1)
        _need_int("downsample", "factor_x", self.factor_x, 0)
        _need_int("downsample", "factor_y", self.factor_y, 0)

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


@EVENT_FILTERS.register("downsample")
class DownsampleFilter(EventFilter):
    """Spatial downsampling by integer factors: ``x // fx, y // fy``; every event is kept (follow with
    `refractory` or `decimate` to thin the merged pixels)."""

    kind = "downsample"
    Params = DownsampleParams

    @property
    def out_width(self) -> int:
        return -(-self.width // self.params.fx)

    @property
    def out_height(self) -> int:
        return -(-self.height // self.params.fy)

    code = OP_DOWNSAMPLE

    def _prm(self) -> list[int]:
        # a multiply and a shift instead of a 64-bit division (tens of cycles an event): see _reciprocal
        fx, fy = self.params.fx, self.params.fy
        return [fx, fy, _reciprocal(fx), _reciprocal(fy)]


# ----------------------------------------------------------------------------------------------- chains


class FilterChain:
    """Filters applied in order, each built for the geometry the previous one leaves.

    ``FilterChain([{"kind": "refractory", "period_us": 500}, {"kind": "downsample", "factor": 2}], 640, 480)``.
    Events outside the input sensor are dropped at the door and counted in ``rejected``.
    """

    def __init__(self, specs: list[dict[str, Any]] | None, width: int, height: int):
        _need_int("chain", "width", width, 1)
        _need_int("chain", "height", height, 1)
        self.width, self.height = int(width), int(height)
        self.filters: list[EventFilter] = []
        w, h = self.width, self.height
        for i, spec in enumerate(specs or []):
            if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
                raise ValueError(f"filters[{i}]: expected a map with a 'kind' string, got {spec!r}")
            params = {k: v for k, v in spec.items() if k != "kind"}
            try:
                cls = EVENT_FILTERS.get(spec["kind"])
            except UnknownKind as e:
                raise ValueError(f"filters[{i}]: {e}") from None
            f = cls(w, h, **params)
            self.filters.append(f)
            w, h = f.out_width, f.out_height
        self.out_width, self.out_height = w, h
        self._program = _Program(self.filters, self.width, self.height) if self.filters else None
        self._rejected = 0  # counted here when there is no program

    @property
    def rejected(self) -> int:
        """Events dropped at the door for lying outside the input sensor."""
        return self._rejected + (int(self._program.rejected[0]) if self._program is not None else 0)

    def __call__(self, ev: np.ndarray) -> np.ndarray:
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have EVENT_DTYPE, got {ev.dtype}")
        if self._program is not None:
            return self._program.run(ev)  # one fused pass; drops and counts out-of-sensor events itself
        return self._door(ev)

    def to_slicer(self, ev: np.ndarray, slicer) -> int:
        """Filter a chunk and push it to ``slicer`` (an `EventSlicer` built for this chain's output), mapping
        events to neurons in the filter pass itself when the slicer keeps no events and selects no polarity.
        Returns the number of events the chain kept."""
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have EVENT_DTYPE, got {ev.dtype}")
        if self._program is None or slicer.keep_events or slicer.polarity not in ("both", "merge"):
            kept = self(ev)
            slicer.push(kept)
            return int(kept.size)
        idx, t = self._program.run_mapped(ev, slicer.width, slicer.height, slicer.polarity == "both",
                                          slicer._clock)
        slicer.push_mapped(idx, t)
        return int(idx.size)

    def _door(self, ev: np.ndarray) -> np.ndarray:
        if ev.size and (int(ev["x"].max()) >= self.width or int(ev["y"].max()) >= self.height):
            inside = (ev["x"] < self.width) & (ev["y"] < self.height)
            self._rejected += int(ev.size - np.count_nonzero(inside))
            ev = ev[inside]
        return ev

    def get_state(self) -> dict[str, np.ndarray]:
        out = {}
        for i, f in enumerate(self.filters):
            for k, v in f.get_state().items():
                out[f"{i}.{f.kind}.{k}"] = v
        return out

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        expected = set(self.get_state())
        if set(state) != expected:
            raise ValueError(f"filter chain: state keys {sorted(state)} where {sorted(expected)} are expected")
        parts = []
        for i, f in enumerate(self.filters):  # every filter's part checked before any is written
            prefix = f"{i}.{f.kind}."
            part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            check_arrays(f"event filter {f.kind!r}", f._live_state(), part)
            parts.append(part)
        for f, part in zip(self.filters, parts):
            f.set_state(part)
