"""Benchmarks (b) and (c): a 10,000-neuron recurrent E/I network (8000 excitatory, 2000 inhibitory LIF,
exponential current synapses, Vogels & Abbott 2005 in-degrees) with about a million plastic synapses
(pair STDP on every excitatory projection), driven by 1000 external Poisson inputs; dt = 1 ms.

    .venv/bin/python benchmarks/snn_recurrent.py [--quick] [--repeats N] [--seconds S]

Prints (b) synaptic events per second of CPU time (events = spikes x out-degree, external + recurrent) and
the real-time factor, beside a bare baseline measured in the same run: a plain-numpy event-driven
propagation of the same spikes through the same CSR (scatter-add of the weights, no neurons, no
plasticity), and (c) memory per synapse: bytes held by the built network per synapse (tracemalloc over
`build_snn`, i.e. connectivity, weights, delays, reverse index, traces, state), split into static and
plastic figures. CPU time of this process, single-threaded; the machine is shared, so timings are noisy:
medians of several repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc

import numpy as np

from spikestream.snn.network import build_snn

N_E, N_I, N_EXT, EXT_HZ, DT_US = 8000, 2000, 1000, 10.0, 1000
P_E, P_I, K_EXT = 0.0125, 0.01, 50


def params(plastic: bool = True):
    lif = {"model": "lif", "tau_m_ms": 20.0, "e_l": -60.0, "v_th": -50.0, "v_reset": -60.0, "t_ref_ms": 5.0,
           "tau_exc_ms": 5.0, "tau_inh_ms": 10.0}
    we, wi = 1.3, 9.0  # mV: Vogels & Abbott's CUBA 1.62 mV scaled to 100 (not 80) excitatory inputs; 9 mV
    stdp = {"rule": "stdp_pair", "a_plus": 0.01 * 2 * we, "a_minus": 0.0105 * 2 * we, "w_max": 2 * we}
    conns = []
    for post in ("E", "I"):
        c = {"name": f"E->{post}", "pre": "E", "post": post, "rule": "fixed_prob", "p": P_E, "weight": we}
        if plastic:
            c["plasticity"] = stdp
        conns.append(c)
        conns.append({"name": f"I->{post}", "pre": "I", "post": post, "rule": "fixed_prob", "p": P_I,
                      "weight": wi})
        conns.append({"name": f"ext->{post}", "pre": "input", "post": post, "rule": "fixed_indegree",
                      "k": K_EXT, "weight": 5.0})
    return {"dt_us": DT_US, "seed": 3, "outputs": ["E", "I"],
            "layers": [{"name": "E", "n": N_E, **lif}, {"name": "I", "n": N_I, "type": "inhibitory", **lif}],
            "connections": conns}


def ext_inputs(T_us: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = rng.poisson(EXT_HZ * N_EXT * T_us * 1e-6)
    t = np.sort(rng.integers(0, T_us, n))
    return rng.integers(0, N_EXT, n), t


def out_degree(snn) -> np.ndarray:
    """Out-degree of every neuron (global index: inputs, then E, then I)."""
    lay = snn.layers
    n_total = max(b for _, b in lay.values())
    deg = np.zeros(n_total, np.int64)
    for name in snn.projections:
        pre, _, _ = snn.connectivity(name)
        pre_layer = {"E": "E", "I": "I", "e": "input"}[name.split("->")[0][0]]
        deg += np.bincount(pre + lay[pre_layer][0], minlength=n_total)
    return deg


def run_once(T_us, idx, t, learning=True):
    snn = build_snn(params(), N_EXT)
    snn.learning = learning
    snn.start(0)
    first = t < DT_US
    snn.advance(idx[first], t[first], DT_US)  # jit cache load
    c0 = time.process_time()
    oi, ot = snn.advance(idx[~first], t[~first], T_us)
    cpu = time.process_time() - c0
    return cpu, snn, oi


def numpy_baseline(snn, oi, idx, T_us):
    """Event-driven propagation of the same spikes through the same synapses in vectorised numpy: per
    step, gather the spiking neurons' synapse ranges and scatter-add their weights."""
    lay = snn.layers
    pres, posts, ws = [], [], []
    for name in snn.projections:
        pre, post, _ = snn.connectivity(name)
        src, dst = name.split("->")
        src = "input" if src == "ext" else src
        pres.append(pre + lay[src][0])
        posts.append(post + lay[dst][0])
        ws.append(snn.weights(name))
    pre, post, w = np.concatenate(pres), np.concatenate(posts), np.concatenate(ws)
    o = np.argsort(pre, kind="stable")
    pre, post, w = pre[o], post[o], w[o]
    n_total = max(b for _, b in lay.values())
    ptr = np.searchsorted(pre, np.arange(n_total + 1))
    g = np.zeros(n_total)
    n_steps = min(T_us // DT_US, 2000)
    rng = np.random.default_rng(1)
    spikes_per_step = (oi.size + idx.size) / (T_us // DT_US)
    events = 0
    c0 = time.process_time()
    for _ in range(n_steps):
        who = rng.integers(0, n_total, rng.poisson(spikes_per_step))
        lo, hi = ptr[who], ptr[who + 1]
        sel = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if who.size else np.zeros(0, np.int64)
        np.add.at(g, post[sel], w[sel])
        g *= 0.8
        events += sel.size
    return events / (time.process_time() - c0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 s simulated, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    a = ap.parse_args()
    T_us = int((a.seconds or (1.0 if a.quick else 5.0)) * 1e6)
    reps = a.repeats or (2 if a.quick else 3)
    idx, t = ext_inputs(T_us)

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    snn = build_snn(params(), N_EXT)
    mem = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    n_syn = sum(snn.weights(p).size for p in snn.projections)
    n_plastic = sum(snn.weights(p).size for p in snn.projections if p.startswith("E->"))
    del snn
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    snn_static = build_snn(params(plastic=False), N_EXT)
    mem_static = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del snn_static

    print(f"benchmark (b): {N_E + N_I} LIF neurons ({N_E} E, {N_I} I), {n_syn} synapses of which {n_plastic} "
          f"plastic (pair STDP), {N_EXT} external Poisson inputs @ {EXT_HZ:g} Hz, dt = {DT_US / 1000:g} ms, "
          f"{T_us / 1e6:g} s simulated; medians of {reps} repeats (shared 2-core machine: noisy)")
    runs = [run_once(T_us, idx, t) for _ in range(reps)]
    cpu = statistics.median(r[0] for r in runs)
    snn, oi = runs[0][1], runs[0][2]
    deg = out_degree(snn)
    n_out = snn.n_outputs
    counts_out = np.bincount(oi, minlength=n_out)
    events = int((counts_out * deg[N_EXT:N_EXT + n_out]).sum() + deg[idx[t >= DT_US]].sum())
    rate_e = counts_out[:N_E].sum() / N_E / (T_us / 1e6)
    rate_i = counts_out[N_E:].sum() / N_I / (T_us / 1e6)
    ev_s = events / cpu
    print(f"  rates: E {rate_e:.1f} Hz, I {rate_i:.1f} Hz; synaptic events {events} "
          f"({events / (T_us / 1e6) / 1e6:.1f} M per simulated s)")
    print(f"  spikestream: {cpu:.3f} s CPU  real-time factor {T_us / 1e6 / cpu:.2f}x  [target >= 1x]  "
          f"{ev_s / 1e6:.1f} M synaptic events/s (with neurons and STDP)")
    off = [run_once(T_us, idx, t, learning=False) for _ in range(reps)]
    cpu_off = statistics.median(r[0] for r in off)
    ev_off = int((np.bincount(off[0][2], minlength=n_out) * deg[N_EXT:N_EXT + n_out]).sum()
                 + deg[idx[t >= DT_US]].sum())
    print(f"  spikestream, learning off: {cpu_off:.3f} s CPU  real-time factor {T_us / 1e6 / cpu_off:.2f}x  "
          f"{ev_off / cpu_off / 1e6:.1f} M synaptic events/s")
    base_ev = numpy_baseline(snn, oi, idx, T_us)
    print(f"  bare numpy event propagation (no neurons, no plasticity): {base_ev / 1e6:.1f} M events/s "
          f"-> spikestream is {ev_s / base_ev:.1f}x that")
    print(f"benchmark (c): memory held by the built network: {mem / n_syn:.1f} bytes per synapse with "
          f"{n_plastic} plastic ({mem / 1e6:.1f} MB), {mem_static / n_syn:.1f} bytes per synapse all static "
          f"({mem_static / 1e6:.1f} MB); float64 weight alone = 8 bytes")


if __name__ == "__main__":
    sys.exit(main())
