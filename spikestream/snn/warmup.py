"""Compile (and cache) the engine ahead of time:
``python -c "from spikestream.snn.warmup import warmup; print(warmup())"``.

Every network uses the same compiled step loop (its arguments always have the same types), so one tiny
network exercising every model and rule fills Numba's cache; a node started afterwards loads it in about a
second instead of compiling for 15-40 s.
"""

from __future__ import annotations

import time

import numpy as np


def warmup() -> float:
    """Build and run a tiny network once; returns the seconds it took."""
    from spikestream.snn.network import build_snn

    t0 = time.perf_counter()
    params = {"dt_us": 1000, "seed": 0,
              "layers": [{"name": m, "n": 2, "model": m} for m in
                         ("lif", "adex", "izhikevich", "hh", "fhn", "morris_lecar", "hindmarsh_rose", "poisson")],
              "connections": [{"pre": "input", "post": "lif", "plasticity": {"rule": "stdp_pair"}, "delay_ms": 1.0},
                              {"pre": "lif", "post": "adex", "rule": "fixed_prob", "p": 1.0,
                               "plasticity": {"rule": "stdp_triplet"}, "normalize": {"target": 1.0}},
                              {"pre": "poisson", "post": "izhikevich", "plasticity": {"rule": "rstdp"}}]}
    snn = build_snn(params, 2)
    snn.record("lif", "v")
    snn.reward(np.array([500]), np.array([1.0]))
    snn.advance(np.array([0, 1]), np.array([100, 200]), 5000)
    from spikestream.snn.align import RingAlign  # the ring alignment's kernels, through its real entry point

    al = RingAlign(n_inputs=2, ring=2, per_channel=1, learn_s=0.05, step_ms=25.0, codebook=2, min_evidence_s=0.025)
    al.map(np.arange(400) % 2, np.arange(400) * 500, 200_000)
    return time.perf_counter() - t0
