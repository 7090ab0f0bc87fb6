"""What every encoder shares: input validation, the time-continuity check, state plumbing.

An encoder turns analog samples ``data float32[n, C]`` at ``t_us int64[n]`` into spikes
``(idx int32[m], t_us int64[m])`` sorted by time, then by neuron index, every spike at a sample time of
the chunk that caused it. Subclasses implement `_encode` (calls a jitted kernel) and `_reset`, and list
their state arrays in ``_state_names``.
"""

from __future__ import annotations

import numpy as np

from spikestream.condition._base import StatefulStage, check_chunk

__all__ = ["Encoder", "SpikeBuffer", "check_chunk"]


class Encoder(StatefulStage):
    """Base class: validate once at the boundary, then run the kernel on trusted arrays."""

    def __init__(self, n_inputs: int, n_outputs: int):
        super().__init__()
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)

    def encode(self, data: np.ndarray, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encode one chunk. Raises ValueError (and changes no state) on bad input."""
        data, t_us = check_chunk(data, t_us, self.n_inputs, int(self._last_t[0]))
        if t_us.size == 0:
            return np.empty(0, np.int32), np.empty(0, np.int64)
        idx, t = self._encode(data, t_us)
        self._last_t[0] = t_us[-1]
        return idx, t

    def _encode(self, data: np.ndarray, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class SpikeBuffer:
    """A reusable output buffer for kernels: grows only when a chunk may produce more spikes than fit."""

    def __init__(self, capacity: int = 4096):
        self.idx = np.empty(capacity, np.int32)
        self.t = np.empty(capacity, np.int64)

    def ensure(self, capacity: int) -> None:
        if capacity > self.idx.size:
            cap = max(capacity, 2 * self.idx.size)
            self.idx = np.empty(cap, np.int32)
            self.t = np.empty(cap, np.int64)

    def take(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        return self.idx[:m].copy(), self.t[:m].copy()
