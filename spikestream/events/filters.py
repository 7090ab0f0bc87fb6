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

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.state import restore_arrays
from spikestream.registry import EVENT_FILTERS, UnknownKind

#: "Never fired": far enough in the past that ``t - NEVER`` cannot overflow for any real timestamp.
NEVER = np.int64(-(1 << 62))


# ------------------------------------------------------------------------------------------------ kernel

#: Per-pixel timestamps of background_activity and refractory are int32, relative to a per-filter base
#: (int64) that moves forward, exactly, once time runs REBASE_US past it: half the table, twice the pixels in
#: cache. NEVER32 = "never fired, or longer ago than any window can reach" (windows are below REBASE_US).
REBASE_US = 1 << 30
NEVER32 = -(1 << 31)


@njit(cache=True)
def _rebase(st32, off, n, st64, jb, ti):
    """Move the base ``st64[jb]`` of the int32 table ``st32[off: off + n]`` to ``ti`` (REBASE_US or more
    past it: rare) and shift every entry by the difference, saturating at NEVER32 (entries then more than
    2**31 us old: outside any window). Returns 0, ``ti`` relative to the new base. The base starts at NEVER,
    so the first event rebases. Relative times stay below REBASE_US, so stored values fit int32, and every
    comparison equals the int64 one for events at most REBASE_US before the base (the base is never ahead of
    the newest event: only an event 17.9 min older than one already seen could be judged differently)."""
    d = ti - st64[jb]
    if d >= (1 << 32):  # everything falls out of range (also the first event)
        st32[off:off + n] = NEVER32
    else:
        for i in range(off, off + n):
            st32[i] = max(np.int64(st32[i]) - d, NEVER32)
    st64[jb] = ti
    return np.int64(0)


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Ask the CPU to start loading ``arr[idx]``'s cache line (llvm.prefetch: read, keep); no effect on results."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


PREFETCH_AHEAD = 8  # events


# Op codes of the fused chain kernel; each filter is one op: a per-event predicate that may also update its
# own state and rewrite the event's coordinates. prm[o] holds the op's integer parameters, st64 / st32 the
# per-pixel state of every op (flat arenas, each op at its own offset), sc[o] per-call scratch.
OP_HOT_PIXEL, OP_BACKGROUND, OP_REFRACTORY, OP_DECIMATE, OP_RATE_LIMIT, OP_ROI, OP_POLARITY, OP_DOWNSAMPLE = range(8)
N_PRM = 8


@njit(cache=True)
def _run_chain(x, y, t, p, in_w, in_h, ops, prm, st64, st32, sc, ox, oy, ot, op_, rejected,
               mapped, map_w, map_h, both, clock, idx_out, t_out):
    """Every event through every op in order, stopping at the first op that drops it; survivors are written
    compacted to ``ox, oy, ot, op_`` or, with ``mapped``, straight to the slicer's neuron index and time
    (``idx_out``, ``t_out``: as `spikestream.events.slicing._map_events`, times clamped non-decreasing with
    ``clock = [last time, n clamped]``). Events outside ``in_w x in_h`` are counted in ``rejected[0]`` and
    dropped before any op sees them. Returns the number kept.

    hot_pixel: aligned windows ``[k w, (k+1) w)``; ``st32[off + 2 j: +2] = (window index mod 2**31, count in
    it - 2**31 if the window before had more than max_events)``; a division only when time leaves the cached
    window ``sc[o]``; counts saturate at max_events + 1. background_activity: a neighbour (own row first,
    early exit) fired less than ``dt`` before; every event refreshes its own pixel; int32 times relative to
    the op's base (`_rebase`), as refractory's. refractory: ``t - last > period``; ``last`` updated
    on kept events (or every event with ``extend``). decimate: every n-th event per pixel. rate_limit: the
    first ``max_events`` per aligned window, ``st64[off: off + 2] = (window, count)``."""
    n_ops = ops.size
    for o in range(n_ops):
        if ops[o] == OP_HOT_PIXEL:
            sc[o, 0] = 1  # empty cached window: the first event computes its window
            sc[o, 1] = 0
    k = 0
    n_ev = x.size
    for i in range(n_ev):
        # the table lines an event a few places ahead will touch, for the ops that see raw coordinates
        ia = i + PREFETCH_AHEAD
        if ia < n_ev:
            xa = np.int64(x[ia])
            ya = np.int64(y[ia])
            if xa < in_w and ya < in_h:
                for o in range(n_ops):
                    code = ops[o]
                    if code == OP_HOT_PIXEL:
                        _prefetch(st32, prm[o, 3] + 2 * (ya * prm[o, 0] + xa))
                    elif code == OP_BACKGROUND:
                        c = prm[o, 5] + ya * prm[o, 0] + xa
                        _prefetch(st32, c)
                        if ya > 0:
                            _prefetch(st32, c - prm[o, 0])
                        if ya + 1 < prm[o, 1]:
                            _prefetch(st32, c + prm[o, 0])
                    elif code == OP_REFRACTORY:
                        _prefetch(st32, prm[o, 4] + ya * prm[o, 0] + xa)
                    elif code == OP_DECIMATE:
                        _prefetch(st64, prm[o, 2] + ya * prm[o, 0] + xa)
                    elif code == OP_ROI or code == OP_DOWNSAMPLE:
                        break  # coordinates change from here on
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi >= in_w or yi >= in_h:
            rejected[0] += 1
            continue
        ti = t[i]
        pi = p[i]
        ok = True
        for o in range(n_ops):
            code = ops[o]
            if code == OP_HOT_PIXEL:
                width, window_us, max_events, off = prm[o, 0], prm[o, 1], prm[o, 2], prm[o, 3]
                if ti < sc[o, 0] or ti >= sc[o, 1]:
                    wl = ti // window_us
                    sc[o, 0] = wl * window_us
                    sc[o, 1] = sc[o, 0] + window_us
                    sc[o, 2] = wl & 0x7FFFFFFF
                w = sc[o, 2]
                j = off + 2 * (yi * width + xi)
                s0 = np.int64(st32[j])
                v = np.int64(st32[j + 1])  # count (31 bits), sign bit: "hot in the window before"
                c = v & 0x7FFFFFFF
                same = w == s0  # selects, not branches: the pattern is random and mispredictions dominate
                hot_before = (v < 0) if same else (w == ((s0 + 1) & 0x7FFFFFFF) and c > max_events)
                c = min(c + 1, max_events + 1) if same else np.int64(1)
                st32[j] = w
                st32[j + 1] = c - (np.int64(hot_before) << 31)
                ok = c <= max_events and not hot_before
            elif code == OP_BACKGROUND:
                width, height, dt_us, diagonal, include_self, off = (prm[o, 0], prm[o, 1], prm[o, 2],
                                                                     prm[o, 3] != 0, prm[o, 4] != 0, prm[o, 5])
                rt = ti - st64[prm[o, 6]]
                if rt >= REBASE_US:
                    rt = _rebase(st32, off, width * height, st64, prm[o, 6], ti)
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
            elif code == OP_REFRACTORY:
                width, period_us, extend, n_pix, off = prm[o, 0], prm[o, 1], prm[o, 2], prm[o, 3], prm[o, 4]
                rt = ti - st64[prm[o, 5]]
                if rt >= REBASE_US:
                    rt = _rebase(st32, off, n_pix, st64, prm[o, 5], ti)
                j = off + yi * width + xi
                ok = rt - st32[j] > period_us
                if ok or extend != 0:
                    st32[j] = max(rt, NEVER32)
            elif code == OP_DECIMATE:
                j = prm[o, 2] + yi * prm[o, 0] + xi
                c64 = st64[j] + 1
                ok = c64 >= prm[o, 1]
                st64[j] = 0 if ok else c64
            elif code == OP_RATE_LIMIT:
                j = prm[o, 2]
                wl = ti // prm[o, 0]
                if wl != st64[j]:
                    st64[j] = wl
                    st64[j + 1] = 0
                st64[j + 1] += 1
                ok = st64[j + 1] <= prm[o, 1]
            elif code == OP_ROI:
                x0, y0 = prm[o, 0], prm[o, 1]
                ok = xi >= x0 and xi < x0 + prm[o, 2] and yi >= y0 and yi < y0 + prm[o, 3]
                if ok and prm[o, 4] != 0:
                    xi -= x0
                    yi -= y0
            elif code == OP_POLARITY:
                ok = (pi != 0) == (prm[o, 0] != 0)
            elif code == OP_DOWNSAMPLE:  # x // f as (x * ceil(2**32 / f)) >> 32: exact for x, f < 2**16
                xi = (xi * prm[o, 2]) >> 32
                yi = (yi * prm[o, 3]) >> 32
            if not ok:
                break
        if ok:
            if mapped:
                if ti < clock[0]:
                    ti = clock[0]
                    clock[1] += 1
                clock[0] = ti
                j = yi * map_w + xi
                if both and pi != 0:
                    j += map_w * map_h
                idx_out[k] = j
                t_out[k] = ti
            else:
                ox[k] = xi
                oy[k] = yi
                ot[k] = ti
                op_[k] = pi
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

    code: ClassVar[int]
    _bound: object = None  # token of the fused program whose arenas hold this filter's state

    def __call__(self, ev: np.ndarray) -> np.ndarray:
        """Filter a chunk on its own (a one-filter program); the input is left alone."""
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have EVENT_DTYPE, got {ev.dtype}")
        if getattr(self, "_solo", None) is None:
            self._solo = _Program([self], self.width, self.height)
        return self._solo.run(ev)

    def _prm(self) -> list[int]:
        """The op's integer parameters for the fused kernel (the state offset is appended after them)."""
        raise NotImplementedError

    def get_state(self) -> dict[str, np.ndarray]:
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        restore_arrays(f"event filter {self.kind!r}", self.get_state(), state)


class _PixelStateFilter(EventFilter):
    """A filter whose state is one array (per pixel, flattened ``y * width + x``), int64 or int32. A fused
    program moves it into its arena and leaves ``self._<name>`` a view of it."""

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


class _Program:
    """Filters fused into one kernel pass: op codes, a parameter table and two state arenas (int64, int32)
    holding every filter's state array at its own offset; each filter's state attribute becomes a view into
    its arena, so get_state/set_state keep working on the filter objects."""

    def __init__(self, filters: list[EventFilter], width: int, height: int):
        self.filters, self.width, self.height = filters, width, height
        self.ops = np.array([f.code for f in filters], np.int64)
        self.sc = np.zeros((len(filters), 3), np.int64)
        self.rejected = np.zeros(1, np.int64)
        self._token = object()  # filters keep this, not the program: no reference cycle to collect
        self._bind()

    def _bind(self) -> None:
        """(Re)build the arenas from the filters' current state arrays and point the filters at them."""
        placed = []  # (filter, name, array, offset)
        sizes = {np.dtype(np.int64): 0, np.dtype(np.int32): 0}
        self.prm = np.zeros((len(self.filters), N_PRM), np.int64)
        for o, f in enumerate(self.filters):
            row = [int(v) for v in f._prm()]
            for name in getattr(f, "_state_names", ()):  # offsets follow the params, in _state_names order
                a = getattr(f, "_" + name)
                row.append(sizes[a.dtype])
                placed.append((f, name, a, sizes[a.dtype]))
                sizes[a.dtype] += a.size
            self.prm[o, :len(row)] = row
        self.st64 = np.empty(sizes[np.dtype(np.int64)], np.int64)
        self.st32 = np.empty(sizes[np.dtype(np.int32)], np.int32)
        for f, name, a, off in placed:
            arena = self.st64 if a.dtype == np.int64 else self.st32
            view = arena[off:off + a.size].reshape(a.shape)
            view[...] = a
            setattr(f, "_" + name, view)
        for f in self.filters:
            f._bound = self._token

    def run(self, ev: np.ndarray) -> np.ndarray:
        """The kept events of a chunk, in a new array; the input is left alone."""
        if any(f._bound is not self._token for f in self.filters):  # a filter also ran in another program
            self._bind()
        out = np.empty(ev.size, EVENT_DTYPE)
        k = _run_chain(ev["x"], ev["y"], ev["t"], ev["p"], self.width, self.height, self.ops, self.prm,
                       self.st64, self.st32, self.sc, out["x"], out["y"], out["t"], out["p"], self.rejected,
                       False, 1, 1, False, _NO_CLOCK, _NO_IDX, _NO_T)
        return out[:k]

    def run_mapped(self, ev: np.ndarray, width: int, height: int, both: bool,
                   clock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kept events of a chunk as (neuron index, clamped time), in the same pass."""
        if any(f._bound is not self._token for f in self.filters):
            self._bind()
        idx = np.empty(ev.size, np.uint32)
        t = np.empty(ev.size, np.int64)
        e = _NO_EVENTS
        k = _run_chain(ev["x"], ev["y"], ev["t"], ev["p"], self.width, self.height, self.ops, self.prm,
                       self.st64, self.st32, self.sc, e["x"], e["y"], e["t"], e["p"], self.rejected,
                       True, width, height, both, clock, idx, t)
        return idx[:k], t[:k]


# placeholders for the outputs a _run_chain call does not write (same array types as the real ones)
_NO_EVENTS = np.zeros(2, EVENT_DTYPE)
_NO_CLOCK = np.zeros(2, np.int64)
_NO_IDX = np.zeros(0, np.uint32)
_NO_T = np.zeros(0, np.int64)


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
        for i, f in enumerate(self.filters):
            prefix = f"{i}.{f.kind}."
            f.set_state({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
