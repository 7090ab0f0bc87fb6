"""The base of every event filter, its declaration, and the fused program that runs a list of them.

A filter is one module (see `spikestream.events.filters_refractory` for a small one): a frozen ``Params``
dataclass (the params layer builds and checks it; `_need_ints` checks its integers), named kernel slots
(``P = slots("width", "period_us", "last", "base")``: its integer parameters, then the arena offset of each
state array by the state's name), its state arrays declared by name (``state = {"last": State(np.int32,
NEVER32)}``: built for the sensor by `EventFilter.__init__`), and an ``@njit`` per-event step reading
``prm[o, P.period_us]``; ``class F(EventFilter, kind="refractory")`` names it and registers it in
`EVENT_FILTERS`::

    step(o, prm, st64, st32, sc, xi, yi, ti, pi) -> (keep, xi, yi)

(``o``: the op's row of ``prm`` and ``sc``; ``st64`` / ``st32``: the arenas holding every op's state;
``sc[o]``: per-call scratch; ``xi, yi`` may be rewritten for the ops after it). Optional kernels: ``start(o,
prm, sc)`` once per chunk before the first event, ``prefetch(o, prm, st64, st32, xa, ya)`` for the table
lines an event a few places ahead will touch; ``remaps = True`` for a filter that changes coordinates.
A slot named like a field of ``Params`` takes its value, else ``width`` / ``height`` / ``n_pix`` the input
sensor's (`EventFilter._prm`; a filter with derived values overrides it).
Defining ``step`` in a subclass declares it (`DECLARED`, its ``code``); `spikestream.events._chain_dispatch`
generates the fused kernel from every declared filter, its kernels inlined as source: so a kernel returns
once, at its end, and assigns no argument but ``xi, yi`` (checked when the kernel is generated).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar

import numpy as np

from spikestream.events._chain_dispatch import kernel as chain_kernel
from spikestream.events._chain_kernel import NEVER, NEVER32
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.state import restore_arrays
from spikestream.params import build_dataclass, check_number
from spikestream.registry import EVENT_FILTERS

#: Every declared filter class, in declaration order; a class's ``code`` is its index here.
DECLARED: list[type] = []


def _build_params(cls: type, kind: str, params: dict[str, Any]):
    return build_dataclass(cls, params, f"event filter {kind!r}")


def _need_int(kind: str, name: str, v: Any, lo: int) -> None:
    check_number(v, f"event filter {kind!r}: {name}", integer=True, lo=lo)


def _need_ints(kind: str, params: Any, **lo: int) -> None:
    """Each named field of a filter's `params` an integer >= its bound: ``_need_ints("roi", self, x=0,
    width=1)``."""
    for name, bound in lo.items():
        _need_int(kind, name, getattr(params, name), bound)


@dataclasses.dataclass(frozen=True)
class State:
    """One state array of a filter, as the filter declares it: its dtype (int64 or int32) and initial value
    `fill`, a scalar or one value per column; one row per pixel of the input sensor, or (``per_pixel=False``)
    `fill`'s own shape."""

    dtype: type
    fill: Any
    per_pixel: bool = True

    def new(self, width: int, height: int) -> np.ndarray:
        fill = np.asarray(self.fill, self.dtype)
        if not self.per_pixel:
            return fill.reshape(-1).copy()
        return np.full((width * height, *fill.shape), fill, self.dtype)


#: The state of a filter keeping per-pixel times as int32 relative to its own int64 base (background_activity,
#: refractory; see `_chain_kernel.REBASE_US`): never fired, and the first event rebases.
RELATIVE_TIMES = {"last": State(np.int32, NEVER32), "base": State(np.int64, (NEVER,), per_pixel=False)}


def _kernel(cls: type, name: str) -> Callable | None:
    f = cls.__dict__.get(name)
    f = f.__func__ if isinstance(f, staticmethod) else f
    if f is not None and not hasattr(f, "py_func"):
        raise ValueError(f"event filter {cls.__qualname__}: {name} must be an @njit function, got {f!r}")
    return f


def declare(cls: type) -> int:
    """Add a filter class to `DECLARED` (what the generated dispatch calls); returns its code. A class of the
    same module and name declared again (a reloaded module) takes the old one's code."""
    step = _kernel(cls, "step")
    for name in ("step", "start", "prefetch"):
        f = _kernel(cls, name)
        if f is not None:
            setattr(cls, name, staticmethod(f))  # a plain function attribute, not a bound method
    s = cls.__dict__.get("slots")
    if s is None or not hasattr(s, "_fields") or tuple(s) != tuple(range(len(s))):
        raise ValueError(f"event filter {cls.__qualname__}: slots must come from slots(...), got {s!r}")
    missing = set(cls._state_names) - set(s._fields)
    if missing:
        raise ValueError(f"event filter {cls.__qualname__}: no slot for the offset of its state {sorted(missing)}")
    if step is None:
        raise ValueError(f"event filter {cls.__qualname__}: no step")
    name = f"{cls.__module__}.{cls.__qualname__}"
    for code, old in enumerate(DECLARED):
        if f"{old.__module__}.{old.__qualname__}" == name:
            DECLARED[code] = cls
            break
    else:
        code = len(DECLARED)
        DECLARED.append(cls)
    cls.code = code
    return code


class EventFilter:
    """Base of every filter: a sensor geometry in and out, a call on a chunk, and explicit state. A subclass
    that defines ``step`` is declared (module docstring)."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type]
    #: Named kernel slots: the integer parameters (`_prm`), then the offset of each state array by name.
    slots: ClassVar[Any]
    #: The state arrays by name, each built as ``self._<name>`` and moved into an arena.
    state: ClassVar[dict[str, State]] = {}
    #: Their names (from `state`; a filter that builds its arrays in its own ``__init__`` lists them here).
    _state_names: ClassVar[tuple[str, ...]] = ()
    #: Columns of per-call scratch ``sc[o]`` the kernels use.
    n_scratch: ClassVar[int] = 0
    #: True: the step rewrites ``xi, yi`` (the ops after it see other coordinates: prefetch stops there).
    remaps: ClassVar[bool] = False
    code: ClassVar[int]
    step: ClassVar[Callable]
    start: ClassVar[Callable | None] = None
    prefetch: ClassVar[Callable | None] = None
    _bound: object = None  # token of the fused program whose arenas hold this filter's state

    def __init_subclass__(cls, kind: str | None = None, **kw: Any):
        """``class F(EventFilter, kind="x")``: F is filter "x" in `EVENT_FILTERS`."""
        super().__init_subclass__(**kw)
        if kind is not None:
            cls.kind = kind
        if "state" in cls.__dict__:
            cls._state_names = tuple(cls.state)
        if "step" in cls.__dict__:
            declare(cls)
        if kind is not None:
            EVENT_FILTERS.register(kind)(cls)

    def __init__(self, width: int, height: int, /, **params: Any):
        _need_int(self.kind, "width", width, 1)
        _need_int(self.kind, "height", height, 1)
        self.width, self.height = int(width), int(height)
        self.params = _build_params(self.Params, self.kind, params)
        for name, st in self.state.items():
            setattr(self, "_" + name, st.new(self.width, self.height))

    @property
    def out_width(self) -> int:
        return self.width

    @property
    def out_height(self) -> int:
        return self.height

    def __call__(self, ev: np.ndarray) -> np.ndarray:
        """Filter a chunk on its own (a one-filter program); the input is left alone."""
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have EVENT_DTYPE, got {ev.dtype}")
        if getattr(self, "_solo", None) is None:
            self._solo = _Program([self], self.width, self.height)
        return self._solo.run(ev)

    def _prm(self) -> dict[str, int]:
        """The op's integer parameters by slot name (the state offsets are filled in by the program): a slot
        named like a field of ``params`` takes its value, else ``width``, ``height`` or ``n_pix`` the input
        sensor's. A filter whose slots hold derived values overrides this."""
        fields = {f.name: getattr(self.params, f.name) for f in dataclasses.fields(self.params)}
        sensor = {"width": self.width, "height": self.height, "n_pix": self.width * self.height}
        out = {}
        for name in self.slots._fields:
            if name in self._state_names:
                continue
            if name in fields:
                out[name] = fields[name]
            elif name in sensor:
                out[name] = sensor[name]
        return out

    def _live_state(self) -> dict[str, np.ndarray]:
        """The filter's own state arrays (views into a program's arena once bound)."""
        return {n: getattr(self, "_" + n) for n in self._state_names}

    def get_state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._live_state().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        restore_arrays(f"event filter {self.kind!r}", self._live_state(), state)


class _Program:
    """Filters fused into one kernel pass: op codes, a parameter table and two state arenas (int64, int32)
    holding every filter's state array at its own offset; each filter's state attribute becomes a view into
    its arena, so get_state/set_state keep working on the filter objects."""

    def __init__(self, filters: list[EventFilter], width: int, height: int):
        self.filters, self.width, self.height = filters, width, height
        self.ops = np.array([f.code for f in filters], np.int64)
        self.sc = np.zeros((len(filters), max([1] + [f.n_scratch for f in filters])), np.int64)
        self.rejected = np.zeros(1, np.int64)
        self._token = object()  # filters keep this, not the program: no reference cycle to collect
        self._bind()

    def _bind(self) -> None:
        """(Re)build the arenas from the filters' current state arrays and point the filters at them."""
        placed = []  # (filter, name, array, offset)
        sizes = {np.dtype(np.int64): 0, np.dtype(np.int32): 0}
        self.prm = np.zeros((len(self.filters), max([1] + [len(f.slots) for f in self.filters])), np.int64)
        for o, f in enumerate(self.filters):
            vals = dict(f._prm())
            for name in f._state_names:
                a = getattr(f, "_" + name)
                vals[name] = sizes[a.dtype]
                placed.append((f, name, a, sizes[a.dtype]))
                sizes[a.dtype] += a.size
            if set(vals) != set(f.slots._fields):
                raise ValueError(f"event filter {f.kind!r}: values for {sorted(vals)} where its slots are "
                                 f"{list(f.slots._fields)}")
            for name, v in vals.items():
                self.prm[o, getattr(f.slots, name)] = int(v)
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
        k = chain_kernel()(ev["x"], ev["y"], ev["t"], ev["p"], self.width, self.height, self.ops, self.prm,
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
        k = chain_kernel()(ev["x"], ev["y"], ev["t"], ev["p"], self.width, self.height, self.ops, self.prm,
                           self.st64, self.st32, self.sc, e["x"], e["y"], e["t"], e["p"], self.rejected,
                           True, width, height, both, clock, idx, t)
        return idx[:k], t[:k]


# placeholders for the outputs a run_chain call does not write (same array types as the real ones)
_NO_EVENTS = np.zeros(2, EVENT_DTYPE)
_NO_CLOCK = np.zeros(2, np.int64)
_NO_IDX = np.zeros(0, np.uint32)
_NO_T = np.zeros(0, np.int64)
