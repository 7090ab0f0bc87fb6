"""What a node's `warm()` uses: a scratch node of the same kind and parameters, fed scratch messages through
the wire format, so that every kernel its real messages will reach is loaded (compiled, if not in Numba's
cache) before the node reports ready, and its real state is never touched.

    s = scratch(self, n_inputs=16)         # a fresh node, set up, emitting nowhere, logging only errors
    feed(s, "in", dense_spikes(16, 0, 10_000))

Kernels specialise on argument types, not sizes: a scratch network of the same description with one input
loads the same machine code as the real one; the wire fixes the dtypes (`protocol`), so a scratch message
packed and unpacked carries what a real one will. Types include more than dtypes: an array's layout (a column
of a one-column array is contiguous, of a wider one strided) and whether it is writable (unpacked arrays are
read-only, a source's own rows are not) each select another compiled kernel, so a node warms the variants its
input may take (`feed` for what arrives by wire, its own rows for an inline encoder).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from spikestream import protocol as P
from spikestream.runtime.node import Node


def scratch(node: Node, **overrides: Any) -> Node:
    """A new node of `node`'s class with its parameters (`overrides` replace some), set up; what it emits goes
    nowhere and it logs only errors (its "calibration ended" and the like are not news)."""
    log = logging.getLogger(f"{node.log.name}.warm")
    log.setLevel(logging.ERROR)
    s = type(node)(node.name, {**node.params, **overrides}, log=log)
    s.curve_keys = node.curve_keys
    s.setup()
    return s


def feed(node: Node, port: str, body: P.Body, t_us: int | None = None, seq: int = 0) -> None:
    """One message into `node`'s input `port` through pack / unpack, as the runtime delivers it (no origin
    stamp: never judged stale)."""
    if t_us is None:
        t_us = int(getattr(body, "t1_us", 0) or (body.t_us[-1] if len(body.t_us) else 0))
    msg = P.unpack(P.pack(P.Message(body, "warm", seq, int(t_us), 0)), kinds=type(node).inputs[port])
    node.on_message(port, msg)


def dense_spikes(n_neurons: int, t0_us: int, t1_us: int, step_us: int = 1000) -> P.Spikes:
    """Every neuron spiking once every `step_us` in [t0, t1), neuron i shifted by i us within the step."""
    times = np.arange(t0_us, t1_us, step_us, dtype=np.int64)
    idx = np.tile(np.arange(n_neurons, dtype=np.uint32), times.size)
    t = np.repeat(times, n_neurons) + (idx.astype(np.int64) % step_us)
    keep = t < t1_us
    return P.Spikes(int(t0_us), int(t1_us), int(n_neurons), idx[keep], t[keep])


def samples(n_rows: int, n_channels: int, t0_us: int, rate_hz: float, seed: int = 0) -> P.Samples:
    """`n_rows` rows of a noisy sine per channel (float32, as on the wire), starting at `t0_us`."""
    period = 1e6 / rate_hz
    t = t0_us + np.round(np.arange(n_rows) * period).astype(np.int64)
    rng = np.random.default_rng(seed)
    data = (np.sin(np.arange(n_rows)[:, None] * 0.3 + np.arange(n_channels)) + 0.1 * rng.standard_normal(
        (n_rows, n_channels))).astype(np.float32)
    return P.Samples(t, data, float(rate_hz), [f"ch{i}" for i in range(n_channels)])
