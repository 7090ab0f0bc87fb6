"""The demo's SNN stage: real-time factor as the node runs it, beside a plain-numpy step loop.

The network is the one in deploy/demo.toml (16 delta-encoder inputs -> 64 LIF, exponential current
synapses, pair STDP, dt = 1 ms), driven by the real encoder output of the synthetic EMG.

- node path: `SNNNode.on_message` on unpacked 1 ms spike packets — what the SNN process does per sample
  at 1 kHz, minus the socket;
- stage path, 1 ms and 100 ms packets: `snn.advance` alone;
- baseline: the same model as a vectorised numpy loop per 1 ms step (LIF, exp current, all-to-all pair
  STDP with traces) — what one would write without a jitted kernel.

    .venv/bin/python benchmarks/demo_snn_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tomllib
from pathlib import Path

import numpy as np

from spikestream.protocol import Message, Spikes
from spikestream.registry import ENCODERS
from spikestream.snn import build_snn
from spikestream.nodes.snn import SNNNode

ROOT = Path(__file__).resolve().parents[1]


def encoded(seconds: float):
    from spikestream.sources.synthetic import EMGSynth

    src = EMGSynth(8, 1000, 2, seed=1)
    r = src.read(int(seconds * 1000))
    enc = ENCODERS.create("delta", n_channels=8, threshold=0.25)
    idx, t = enc.encode(r.data, r.t_us)
    return idx.astype(np.uint32), t.astype(np.int64)


def packets(idx, t, seconds, width_us):
    edges = np.arange(0, int(seconds * 1e6) + 1, width_us)
    cut = np.searchsorted(t, edges)
    return [(idx[a:b], t[a:b], int(e0), int(e1)) for a, b, e0, e1 in zip(cut[:-1], cut[1:], edges[:-1], edges[1:])]


def run_stage(params, pk):
    net = build_snn(params, 16)
    net.advance(np.zeros(0, np.uint32), np.zeros(0, np.int64), 0)
    t = time.perf_counter()
    n = 0
    for i, ts, _, e1 in pk:
        o, _ = net.advance(i, ts, e1)
        n += o.size
    return time.perf_counter() - t, n


def run_node(params, pk):
    node = SNNNode("snn", params, emit=lambda *a: None)
    node.setup()
    msgs = [Message(Spikes(e0, e1, 16, i, ts), "enc.out", k, e1, 1) for k, (i, ts, e0, e1) in enumerate(pk)]
    t = time.perf_counter()
    for m in msgs:
        node.on_message("in", m)
    return time.perf_counter() - t


def run_numpy(params, pk, seed=1):
    """Plain numpy, one vectorised update per 1 ms step (same equations as the LIF + pair-STDP demo)."""
    rng = np.random.default_rng(seed)
    c = params["connections"][0]
    pl = c["plasticity"]
    n_in, n = 16, params["layers"][0]["n"]
    w = rng.uniform(c["weight"]["low"], c["weight"]["high"], (n_in, n))
    dt, tau_m, tau_s, e_l, v_th, v_reset, t_ref = 1.0, 20.0, 5.0, -60.0, -50.0, -60.0, 5
    v, i_syn, refr = np.full(n, e_l), np.zeros(n), np.zeros(n, int)
    x_pre, x_post = np.zeros(n_in), np.zeros(n)
    d_syn, d_m = np.exp(-dt / tau_s), np.exp(-dt / tau_m)
    d_p, d_q = np.exp(-dt / pl["tau_plus_ms"]), np.exp(-dt / pl["tau_minus_ms"])
    t0 = time.perf_counter()
    for idx, _, _, _ in pk:
        pre = np.zeros(n_in, bool)
        pre[idx] = True
        i_syn = i_syn * d_syn + w[pre].sum(0)
        v = np.where(refr > 0, v_reset, e_l + (v - e_l) * d_m + i_syn * (1 - d_m))
        refr = np.maximum(refr - 1, 0)
        post = v >= v_th
        v[post], refr[post] = v_reset, t_ref
        x_pre = x_pre * d_p + pre
        x_post = x_post * d_q + post
        w += pl["a_plus"] * np.outer(x_pre, post) - pl["a_minus"] * np.outer(pre, x_post)
        np.clip(w, 0, pl["w_max"], out=w)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    seconds, reps = (10.0, 3) if a.quick else (60.0, 5)
    params = tomllib.loads((ROOT / "deploy" / "demo.toml").read_text())["nodes"]["snn"]["params"]
    idx, t = encoded(seconds)
    pk1, pk100 = packets(idx, t, seconds, 1000), packets(idx, t, seconds, 100_000)
    run_stage(params, pk1[:100])  # compile (or load the cache) outside the timing
    rows = {"node, 1 ms packets": [], "stage, 1 ms packets": [], "stage, 100 ms packets": [], "numpy baseline, 1 ms": []}
    for _ in range(reps):
        rows["node, 1 ms packets"].append(run_node(params, pk1))
        rows["stage, 1 ms packets"].append(run_stage(params, pk1)[0])
        rows["stage, 100 ms packets"].append(run_stage(params, pk100)[0])
        rows["numpy baseline, 1 ms"].append(run_numpy(params, pk1))
    print(f"demo SNN (16 -> 64 LIF, pair STDP, dt 1 ms), {seconds:.0f} s of EMG-driven input "
          f"({idx.size / seconds:.0f} input spikes/s); median of {reps}:")
    base = statistics.median(rows["numpy baseline, 1 ms"])
    for k, v in rows.items():
        m = statistics.median(v)
        print(f"  {k:24s} {m * 1e3:9.1f} ms  real-time factor {seconds / m:8.1f}x   vs numpy {base / m:6.1f}x")
    print("  target: the SNN stage of the demo >= 10x real time")


if __name__ == "__main__":
    main()
