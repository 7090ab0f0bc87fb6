"""Not a test (pytest does not collect it): the engine timings quoted in docs/snn.md.

    .venv/bin/python tests/snn/perf_engine.py

The official benchmarks, with Brian2 beside, are benchmarks/snn_*.py. Prints wall and process CPU time,
because this machine is shared and wall time depends on the load.
"""

import time

import numpy as np

from spikestream.snn import build_snn


def _time(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def song_like(T_s=20):
    gmax = 0.01
    p = {"dt_us": 1000, "seed": 1,
         "layers": [{"name": "out", "n": 100, "model": "lif", "tau_m_ms": 10.0, "e_l": -74.0, "v_th": -54.0,
                     "v_reset": -60.0, "t_ref_ms": 0.0, "tau_exc_ms": 5.0}],
         "connections": [{"pre": "input", "post": "out", "synapse": "conductance",
                          "weight": {"init": "uniform", "low": 0, "high": gmax},
                          "plasticity": {"rule": "stdp_pair", "a_plus": 0.01 * gmax, "a_minus": 0.0105 * gmax,
                                         "w_max": gmax}}]}
    rng = np.random.default_rng(0)
    T = T_s * 1_000_000
    k = rng.poisson(1000 * 15 * T_s)
    t = np.sort(rng.integers(0, T, k))
    idx = rng.integers(0, 1000, k)
    build_snn(p, 1000).advance(idx[:3], t[:3], 1000)  # compile / load the cache
    for chunk_ms in (1000, 20):
        s = build_snn(p, 1000)
        s.start(0)
        step = chunk_ms * 1000
        b = np.searchsorted(t, np.arange(0, T + step, step))

        def go():
            n = 0
            for c in range(len(b) - 1):
                n += s.advance(idx[b[c]:b[c + 1]], t[b[c]:b[c + 1]], (c + 1) * step)[0].size
            return n
        wall, cpu, n = _time(go)
        print(f"(a) 1000 x 15 Hz -> 100 COBA LIF, pair STDP (dense), {chunk_ms} ms packets: {T_s / wall:.1f}x real "
              f"time wall, {T_s / cpu:.1f}x cpu; output {n / 100 / T_s:.1f} Hz")


def recurrent_10k(T_s=2.0):
    NE, NI = 8000, 2000
    p = {"dt_us": 1000, "seed": 2,
         "layers": [{"name": "E", "n": NE, "model": "lif"}, {"name": "I", "n": NI, "model": "lif", "type": "inhibitory"},
                    {"name": "P", "n": 1000, "model": "poisson", "rate_hz": 10.0}],
         "connections": [
             {"pre": "E", "post": "E", "rule": "fixed_indegree", "k": 125, "weight": 0.2,
              "delay_ms": {"low": 1, "high": 5},
              "plasticity": {"rule": "stdp_pair", "a_plus": 0.001, "a_minus": 0.00105, "w_max": 1.0}},
             {"pre": "E", "post": "I", "rule": "fixed_indegree", "k": 100, "weight": 0.3, "delay_ms": 1.0},
             {"pre": "I", "post": "E", "rule": "fixed_indegree", "k": 25, "weight": 1.5, "delay_ms": 1.0},
             {"pre": "I", "post": "I", "rule": "fixed_indegree", "k": 25, "weight": 1.5, "delay_ms": 1.0},
             {"pre": "P", "post": "E", "rule": "fixed_indegree", "k": 20, "weight": 9.0},
             {"pre": "P", "post": "I", "rule": "fixed_indegree", "k": 20, "weight": 9.0}],
         "outputs": ["E"]}
    s = build_snn(p, 1)
    z = np.zeros(0, np.int64)
    s.start(0)
    s.advance(z, z, 200_000)
    c0 = s.get_state()["count"]
    wall, cpu, _ = _time(lambda: s.advance(z, z, 200_000 + int(T_s * 1e6)))
    rate = (s.get_state()["count"] - c0)[1:1 + NE].sum() / NE / T_s
    print(f"(b) 10k LIF + 1k Poisson, {s.get_state()['w'].size / 1e6:.2f} M synapses (1.0 M plastic): E {rate:.1f} Hz, "
          f"{T_s / wall:.2f}x real time wall, {T_s / cpu:.2f}x cpu")


if __name__ == "__main__":
    song_like()
    recurrent_10k()
