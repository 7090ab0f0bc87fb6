"""Causal, streaming, chunk-invariant event filters, each a frozen params dataclass plus a jitted kernel.

A filter is built for a sensor size, ``F(width, height, **params)``, and called on consecutive chunks of
`EVENT_DTYPE` events in time order: ``out = f(events)``. Per-pixel state (last timestamps, counters) lives in
explicit arrays (`get_state` / `set_state`), so any split of a stream into chunks gives exactly the output of
the whole stream. Filters that change the geometry (`roi` with crop, `downsample`) expose ``out_width`` /
``out_height``. A pipeline names a chain as a list of ``{kind = "...", ...}`` maps (`FilterChain`).

Timestamps are compared as given; "never fired" is a sentinel far in the past, so the first event of a pixel
never counts as a neighbour or a refractory cause. See docs/event-streaming.md for each rule and its source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.state import restore_arrays
from spikestream.registry import EVENT_FILTERS, UnknownKind

#: "Never fired": far enough in the past that ``t - NEVER`` cannot overflow for any real timestamp.
NEVER = np.int64(-(1 << 62))


# ------------------------------------------------------------------------------------------------ kernels


@njit(cache=True)
def _background_activity(x, y, t, p, last, width, height, dt_us, diagonal, include_self):
    """Keep an event if a neighbouring pixel (4- or 8-connected, optionally itself) had an event less than
    ``dt_us`` earlier. Every event, kept or not, refreshes its own pixel's timestamp. Compacts in place;
    returns the number kept. (Own row first and early exit: clustered events rarely touch other rows.)"""
    k = 0
    for i in range(x.size):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        ti = t[i]
        c = yi * width + xi
        left = xi > 0
        right = xi + 1 < width
        ok = (include_self and ti - last[c] < dt_us) or (left and ti - last[c - 1] < dt_us) or \
             (right and ti - last[c + 1] < dt_us)
        if not ok and yi > 0:
            r = c - width
            ok = ti - last[r] < dt_us or (diagonal and ((left and ti - last[r - 1] < dt_us) or
                                                        (right and ti - last[r + 1] < dt_us)))
        if not ok and yi + 1 < height:
            r = c + width
            ok = ti - last[r] < dt_us or (diagonal and ((left and ti - last[r - 1] < dt_us) or
                                                        (right and ti - last[r + 1] < dt_us)))
        last[c] = ti
        if ok:
            x[k], y[k], t[k], p[k] = x[i], y[i], ti, p[i]
            k += 1
    return k


@njit(cache=True)
def _refractory(x, y, t, p, last, width, period_us, extend):
    """Keep an event if more than ``period_us`` passed since its pixel's last kept event (or, with
    ``extend``, since its pixel's last event of any kind). Compacts in place; returns the number kept."""
    k = 0
    for i in range(x.size):
        j = np.int64(y[i]) * width + np.int64(x[i])
        ti = t[i]
        ok = ti - last[j] > period_us
        if ok or extend:
            last[j] = ti
        if ok:
            x[k], y[k], t[k], p[k] = x[i], y[i], ti, p[i]
            k += 1
    return k


@njit(cache=True)
def _hot_pixel(x, y, t, p, st, width, window_us, max_events):
    """Per pixel, count events in aligned windows ``[k*window_us, (k+1)*window_us)``. A pixel is hot while
    its count in the current window, or its count in the window before, exceeds ``max_events``.
    ``st[pixel] = (window index mod 2**31, count in it, count in the window before)`` as int32 (12 bytes a
    pixel keeps the table in cache; counts saturate at max_events + 1). Compacts in place."""
    k = 0
    w = np.int32(0)
    w_start = np.int64(1)  # empty range: the first event computes its window
    w_end = np.int64(0)
    cap = np.int32(max_events + 1)
    for i in range(x.size):
        j = np.int64(y[i]) * width + np.int64(x[i])
        ti = t[i]
        if ti < w_start or ti >= w_end:  # a division only when time leaves the current window
            wl = ti // window_us
            w_start = wl * window_us
            w_end = w_start + window_us
            w = np.int32(wl & 0x7FFFFFFF)
        s0 = st[j, 0]  # selects, not branches: the pattern is random and mispredictions dominate
        same = w == s0
        c = st[j, 1]
        pv = st[j, 2] if same else (c if w == ((s0 + 1) & 0x7FFFFFFF) else 0)
        c = min((c if same else 0) + 1, cap)
        st[j, 0] = w
        st[j, 1] = c
        st[j, 2] = pv
        if c <= max_events and pv <= max_events:
            x[k], y[k], t[k], p[k] = x[i], y[i], ti, p[i]
            k += 1
    return k


@njit(cache=True)
def _decimate(x, y, t, p, count, width, n):
    """Keep every n-th event of each pixel (the n-th, 2n-th, ...). Compacts in place."""
    k = 0
    for i in range(x.size):
        j = np.int64(y[i]) * width + np.int64(x[i])
        c = count[j] + 1
        if c >= n:
            c = 0
            x[k], y[k], t[k], p[k] = x[i], y[i], t[i], p[i]
            k += 1
        count[j] = c
    return k


@njit(cache=True)
def _rate_limit(x, y, t, p, state, window_us, max_events):
    """Keep at most ``max_events`` events in each aligned window of ``window_us`` (whole sensor);
    ``state = [window index, count]``. Compacts in place."""
    k = 0
    for i in range(t.size):
        w = t[i] // window_us
        if w != state[0]:
            state[0] = w
            state[1] = 0
        state[1] += 1
        if state[1] <= max_events:
            x[k], y[k], t[k], p[k] = x[i], y[i], t[i], p[i]
            k += 1
    return k


# ------------------------------------------------------------------------------------------- the stages


def _build_params(cls: type, kind: str, params: dict[str, Any]):
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ValueError(f"event filter {kind!r}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(names)}")
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError(f"event filter {kind!r}: {e}") from None


def _need_int(kind: str, name: str, v: Any, lo: int) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"event filter {kind!r}: {name} must be an integer >= {lo}, got {v!r}")


class EventFilter:
    """Base of every filter: a sensor geometry in and out, a call on a chunk, and explicit state."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type]

    def __init__(self, width: int, height: int, /, **params: Any):
        _need_int(self.kind, "width", width, 1)
        _need_int(self.kind, "height", height, 1)
        self.width, self.height = int(width), int(height)
        self.params = _build_params(self.Params, self.kind, params)

    @property
    def out_width(self) -> int:
        return self.width

    @property
    def out_height(self) -> int:
        return self.height

    def __call__(self, ev: np.ndarray) -> np.ndarray:
        """Filter a chunk; the input is left alone."""
        return self._apply(np.array(ev, EVENT_DTYPE, copy=True))

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        """Filter a chunk the caller owns, possibly in place (kernels compact it); returns the kept events."""
        raise NotImplementedError

    @staticmethod
    def _fields(ev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return ev["x"], ev["y"], ev["t"], ev["p"]

    def get_state(self) -> dict[str, np.ndarray]:
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        restore_arrays(f"event filter {self.kind!r}", self.get_state(), state)


class _PixelStateFilter(EventFilter):
    """A filter whose state is one or more per-pixel arrays (flattened ``y * width + x``)."""

    _state_names: ClassVar[tuple[str, ...]] = ()

    def get_state(self) -> dict[str, np.ndarray]:
        return {n: getattr(self, "_" + n) for n in self._state_names}


@dataclass(frozen=True)
class BackgroundActivityParams:
    dt_us: int = 10_000
    neighbourhood: int = 8  # 4 or 8
    include_self: bool = False

    def __post_init__(self):
        _need_int("background_activity", "dt_us", self.dt_us, 1)
        if self.neighbourhood not in (4, 8):
            raise ValueError(f"event filter 'background_activity': neighbourhood must be 4 or 8, got {self.neighbourhood!r}")


@EVENT_FILTERS.register("background_activity")
class BackgroundActivityFilter(_PixelStateFilter):
    """Delbruck's background-activity (nearest-neighbour) noise filter: an event passes when a neighbour
    fired within ``dt_us`` before it. Isolated noise events have no such support."""

    kind = "background_activity"
    Params = BackgroundActivityParams
    _state_names = ("last",)

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._last = np.full(self.width * self.height, NEVER, np.int64)

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        p = self.params
        return ev[:_background_activity(*self._fields(ev), self._last, self.width, self.height, p.dt_us,
                                        p.neighbourhood == 8, p.include_self)]


@dataclass(frozen=True)
class RefractoryParams:
    period_us: int = 1_000
    extend: bool = False  # True: every event (also a dropped one) restarts the period, as tonic does

    def __post_init__(self):
        _need_int("refractory", "period_us", self.period_us, 0)


@EVENT_FILTERS.register("refractory")
class RefractoryFilter(_PixelStateFilter):
    """Drop an event that follows its pixel's previous event by ``period_us`` or less."""

    kind = "refractory"
    Params = RefractoryParams
    _state_names = ("last",)

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._last = np.full(self.width * self.height, NEVER, np.int64)

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        return ev[:_refractory(*self._fields(ev), self._last, self.width, self.params.period_us, self.params.extend)]


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
        self._counts = np.zeros((self.width * self.height, 3), np.int32)  # window, count, previous count
        self._counts[:, 0] = -1  # no window yet

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        p = self.params
        return ev[:_hot_pixel(*self._fields(ev), self._counts, self.width, p.window_us, p.max_events)]


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

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        return ev[:_decimate(*self._fields(ev), self._count, self.width, self.params.n)]


@dataclass(frozen=True)
class RateLimitParams:
    window_us: int = 1_000
    max_events: int = 10_000  # whole sensor, per aligned window

    def __post_init__(self):
        _need_int("rate_limit", "window_us", self.window_us, 1)
        _need_int("rate_limit", "max_events", self.max_events, 0)


@EVENT_FILTERS.register("rate_limit")
class RateLimitFilter(EventFilter):
    """Keep at most ``max_events`` per aligned window of ``window_us`` (the first ones), dropping the rest:
    a hard bound on the load passed downstream."""

    kind = "rate_limit"
    Params = RateLimitParams

    def __init__(self, width: int, height: int, /, **params: Any):
        super().__init__(width, height, **params)
        self._window = np.array([NEVER, 0], np.int64)

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        return ev[:_rate_limit(*self._fields(ev), self._window, self.params.window_us, self.params.max_events)]

    def get_state(self) -> dict[str, np.ndarray]:
        return {"window": self._window}


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

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        p = self.params
        x, y = ev["x"], ev["y"]
        out = ev[(x >= p.x) & (x < p.x + p.width) & (y >= p.y) & (y < p.y + p.height)]
        if p.crop and (p.x or p.y):
            out["x"] -= p.x
            out["y"] -= p.y
        return out


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

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        on = ev["p"] != 0
        return ev[on] if self.params.keep == "on" else ev[~on]


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

    def _apply(self, ev: np.ndarray) -> np.ndarray:
        if self.params.fx > 1:
            ev["x"] //= self.params.fx
        if self.params.fy > 1:
            ev["y"] //= self.params.fy
        return ev


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
        self.rejected = 0

    def __call__(self, ev: np.ndarray) -> np.ndarray:
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have EVENT_DTYPE, got {ev.dtype}")
        if ev.size and (int(ev["x"].max()) >= self.width or int(ev["y"].max()) >= self.height):
            inside = (ev["x"] < self.width) & (ev["y"] < self.height)
            self.rejected += int(ev.size - np.count_nonzero(inside))
            ev = ev[inside]  # a copy already
        elif self.filters:
            ev = ev.copy()  # the filters work in place on the chain's own copy
        for f in self.filters:
            if ev.size == 0:
                break
            ev = f._apply(ev)
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
        for i, f in enumerate(self.filters):
            prefix = f"{i}.{f.kind}."
            f.set_state({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
