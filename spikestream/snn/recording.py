"""Recording state variables after every step, for validation (split out of network.py)."""

from __future__ import annotations

import numpy as np


class RecordingMixin:
    """`SNN.record` / `recorded` / `stop_recording` (uses the SNN's `_layer`, `_var_src`, `dt_us`; the kernel
    fills the buffer from `_rec_src` / `_rec_idx`)."""

    def record(self, layer: str, var: str = "v", neurons=None) -> None:
        """Record `var` of `layer` (all neurons, or the local indices `neurons`) after every step."""
        a, b = self._layer(layer)
        src = self._var_src(layer, var)
        local = np.arange(b - a) if neurons is None else np.asarray(neurons, np.int64)
        if local.ndim != 1 or (local.size and (local.min() < 0 or local.max() >= b - a)):
            raise ValueError(f"record({layer!r}): neuron indices out of range [0, {b - a})")
        self._rec[(layer, var)] = {"src": src, "idx": local + a, "t": [], "v": []}
        self._rebuild_rec()

    def _rebuild_rec(self) -> None:
        srcs, idxs = [], []
        for r in self._rec.values():
            r["col"] = sum(s.size for s in idxs)
            srcs.append(np.full(r["idx"].size, r["src"], np.int64))
            idxs.append(r["idx"])
        self._rec_src = np.concatenate(srcs) if srcs else np.zeros(0, np.int64)
        self._rec_idx = np.concatenate(idxs) if idxs else np.zeros(0, np.int64)

    def _store_records(self, steps: np.ndarray, buf: np.ndarray) -> None:
        for r in self._rec.values():
            r["t"].append(steps * self.dt_us)
            r["v"].append(buf[:, r["col"]:r["col"] + r["idx"].size].copy())

    def recorded(self, layer: str, var: str = "v") -> tuple[np.ndarray, np.ndarray]:
        """(t_us [T], values [T, n]) recorded so far; t_us is the start of each step, the value is the
        one at the step's end."""
        if (layer, var) not in self._rec:
            raise ValueError(f"{var!r} of layer {layer!r} is not being recorded; call record() first")
        r = self._rec[(layer, var)]
        if not r["t"]:
            return np.zeros(0, np.int64), np.zeros((0, r["idx"].size))
        return np.concatenate(r["t"]), np.concatenate(r["v"])

    def stop_recording(self) -> None:
        self._rec.clear()
        self._rebuild_rec()
