"""Causal, streaming, chunk-invariant event filters, and the chain that runs them (`FilterChain`).

A filter is built for a sensor size, ``F(width, height, **params)``, and called on consecutive chunks of
`EVENT_DTYPE` events in time order: ``out = f(events)``. Per-pixel state (last timestamps, counters) lives in
explicit arrays (`get_state` / `set_state`), so any split of a stream into chunks gives exactly the output of
the whole stream. Filters that change the geometry (`roi` with crop, `downsample`) expose ``out_width`` /
``out_height``. A pipeline names a chain as a list of ``{kind = "...", ...}`` maps (`FilterChain`).

Each filter is one module ``filters_<kind>.py``: its params dataclass, named kernel slots, state and @njit
per-event step (`spikestream.events._filter_base` says how to write one). "Never fired" is a sentinel far in
the past, so the first event of a pixel never counts as a neighbour or a refractory cause. A chain runs as
one fused jitted pass (`_chain_kernel.run_chain`, each filter an op, its dispatch generated from the declared
filters by `_chain_dispatch`); per-pixel state is kept small (int32 relative timestamps, 8-byte hot-pixel
records) so the tables stay in cache. See docs/event-streaming.md for each rule, its source and the state
encodings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikestream.events._filter_base import DECLARED, EventFilter, _need_int, _Program  # noqa: F401
from spikestream.events.dtype import EVENT_DTYPE
# the built-in filters, declared in this order: it numbers their codes and so orders the fused kernel's
# branches (the order of the old hand-written kernel; alphabetical measured ~5 % slower for hot_pixel +
# background_activity + refractory + downsample). A new filter needs no line here.
from spikestream.events.filters_hot_pixel import HotPixelFilter, HotPixelParams  # noqa: F401, I001
from spikestream.events.filters_background import BackgroundActivityFilter, BackgroundActivityParams  # noqa: F401
from spikestream.events.filters_refractory import RefractoryFilter, RefractoryParams  # noqa: F401
from spikestream.events.filters_decimate import DecimateFilter, DecimateParams  # noqa: F401
from spikestream.events.filters_rate_limit import RateLimitFilter, RateLimitParams  # noqa: F401
from spikestream.events.filters_roi import RoiFilter, RoiParams  # noqa: F401
from spikestream.events.filters_polarity import PolarityFilter, PolarityParams  # noqa: F401
from spikestream.events.filters_downsample import DownsampleFilter, DownsampleParams, _reciprocal  # noqa: F401
from spikestream.events.state import check_arrays
from spikestream.registry import EVENT_FILTERS, UnknownKind


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
