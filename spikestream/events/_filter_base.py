"""The base of every event filter and the fused program that runs a list of them through `_run_chain`
(split out of filters.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from spikestream.events._chain_kernel import N_PRM, _run_chain
from spikestream.events.dtype import EVENT_DTYPE
from spikestream.events.state import restore_arrays
from spikestream.params import build_dataclass, check_number


def _build_params(cls: type, kind: str, params: dict[str, Any]):
    return build_dataclass(cls, params, f"event filter {kind!r}")


def _need_int(kind: str, name: str, v: Any, lo: int) -> None:
    check_number(v, f"event filter {kind!r}: {name}", integer=True, lo=lo)


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

    def _live_state(self) -> dict[str, np.ndarray]:
        """The filter's own state arrays (none for a stateless filter)."""
        return {}

    def get_state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._live_state().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        restore_arrays(f"event filter {self.kind!r}", self._live_state(), state)


class _PixelStateFilter(EventFilter):
    """A filter whose state is one array (per pixel, flattened ``y * width + x``), int64 or int32. A fused
    program moves it into its arena and leaves ``self._<name>`` a view of it."""

    _state_names: ClassVar[tuple[str, ...]] = ()

    def _live_state(self) -> dict[str, np.ndarray]:
        return {n: getattr(self, "_" + n) for n in self._state_names}


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
