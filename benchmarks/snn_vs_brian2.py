"""Benchmark (a): 1000 Poisson inputs at 15 Hz, all-to-all onto 100 conductance-based LIF neurons with pair
STDP, dt = 1 ms, 20 s simulated — spikestream and Brian2 (cython runtime) on the same input spike trains,
in the same run. Prints each one's real-time factor (simulated s / s) and the ratio.

    .venv/bin/python benchmarks/snn_vs_brian2.py [--quick] [--repeats N]

Brian2 runs in its own virtualenv (numpy<2): $SPIKESTREAM_BRIAN2_PYTHON or .venv-brian2/bin/python
(`make brian2-env`), through tests/snn/brian2_scripts/generic_net.py. Its code generation + C compilation
is a 1 ms warm-up run, timed apart; the figure is its `run()` alone. Both sides are timed in process CPU
time (single-threaded); wall time is printed too. The machine is shared: timings are noisy, medians of
several repeats, interleaved. Both sides also report their output spike count: they simulate the same equations
(tests/snn/test_brian2_lif.py checks they agree spike for spike).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spikestream.snn.network import build_snn

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "snn" / "brian2_scripts" / "generic_net.py"

N_IN, N_OUT, RATE_HZ, DT_US, W_MAX = 1000, 100, 15.0, 1000, 0.01
STDP = {"rule": "stdp_pair", "a_plus": 0.01 * W_MAX, "a_minus": 0.0105 * W_MAX, "tau_plus_ms": 20.0,
        "tau_minus_ms": 20.0, "w_min": 0.0, "w_max": W_MAX}


def inputs(T_us: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    spk = rng.random((T_us // DT_US, N_IN)) < RATE_HZ * DT_US * 1e-6
    step, idx = np.nonzero(spk)
    return idx.astype(np.int64), (step * DT_US).astype(np.int64)


def params():
    return {"dt_us": DT_US, "seed": 1, "layers": [
        {"name": "out", "n": N_OUT, "model": "lif", "tau_m_ms": 20.0, "e_l": -60.0, "v_th": -50.0,
         "v_reset": -60.0, "t_ref_ms": 5.0, "tau_exc_ms": 5.0}],
        "connections": [{"name": "in", "pre": "input", "post": "out", "synapse": "conductance",
                         "weight": {"init": "uniform", "low": 0.0, "high": W_MAX}, "plasticity": STDP}]}


def run_ours(idx, t, T_us):
    snn = build_snn(params(), N_IN)
    snn.start(0)
    sel = t >= DT_US
    snn.advance(idx[~sel], t[~sel], DT_US)  # first step: jit cache load, counted apart like Brian2's warm-up
    c0, w0 = time.process_time(), time.perf_counter()
    oi, _ = snn.advance(idx[sel], t[sel], T_us)
    return time.process_time() - c0, time.perf_counter() - w0, oi.size, snn


def run_brian2(py, snn, idx, t, T_us):
    pre, post, _ = snn.connectivity("in")
    ns = {"tau_m": "20*ms", "e_l": "-60*mV", "v_th": "-50*mV", "v_reset": "-60*mV", "tau_exc": "5*ms",
          "e_exc": "0*mV", "a_plus": STDP["a_plus"], "a_minus": STDP["a_minus"], "tau_plus": "20*ms",
          "tau_minus": "20*ms", "w_max": W_MAX}
    cfg = {"dt_us": DT_US, "duration_us": T_us, "warmup_us": DT_US, "n_in": N_IN, "n_out": N_OUT,
           "target": "cython", "namespace": ns,
           "neuron": {"eqs": """dv/dt = ((e_l - v) + g_exc*(e_exc - v))/tau_m : volt (unless refractory)
dg_exc/dt = -g_exc/tau_exc : 1""", "threshold": "v >= v_th", "reset": "v = v_reset", "refractory": "5*ms",
                      "method": "exponential_euler"},
           "synapses": [{"name": "in", "model": """w : 1
dxpre/dt = -xpre/tau_plus : 1 (event-driven)
dypost/dt = -ypost/tau_minus : 1 (event-driven)""",
                         "on_pre": "g_exc_post += w\nw = clip(w - a_minus*ypost, 0, w_max)\nxpre += 1",
                         "on_post": "w = clip(w + a_plus*xpre, 0, w_max)\nypost += 1"}]}
    w0 = build_snn(params(), N_IN).weights("in")
    with tempfile.TemporaryDirectory(prefix="ss-bench-") as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, config=np.array(json.dumps(cfg)), in_idx=idx, in_t_us=t, in_i=pre, in_j=post, in_w=w0,
                 init_v=np.full(N_OUT, -60e-3))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        subprocess.run([py, str(SCRIPT), str(inp), str(out)], check=True, env=env, cwd=tmp,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with np.load(out) as z:
            return (float(z["cpu_run_s"]), float(z["t_run_s"]), float(z["t_compile_s"]), int(z["spike_i"].size))


def brian2_python():
    py = os.environ.get("SPIKESTREAM_BRIAN2_PYTHON") or str(REPO / ".venv-brian2" / "bin" / "python")
    return py if Path(py).exists() else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 s simulated, fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    a = ap.parse_args()
    T_us = 5_000_000 if a.quick else 20_000_000
    reps = a.repeats or (3 if a.quick else 5)
    idx, t = inputs(T_us)
    T_s = T_us / 1e6
    print(f"benchmark (a): {N_IN} Poisson inputs @ {RATE_HZ:g} Hz -> {N_OUT} COBA LIF, all-to-all "
          f"({N_IN * N_OUT} synapses), pair STDP, dt = {DT_US / 1000:g} ms, {T_s:g} s simulated, "
          f"{idx.size} input spikes; medians of {reps} repeats (shared 2-core machine: noisy)")
    py = brian2_python()
    ours, b = [], []
    for r in range(reps):  # interleaved, so that both see the same machine load
        ours.append(run_ours(idx, t, T_us))
        if py is not None:
            b.append(run_brian2(py, ours[0][3], idx, t, T_us))
    cpu = statistics.median(r[0] for r in ours)
    wall = statistics.median(r[1] for r in ours)
    print(f"  spikestream: {cpu:8.3f} s CPU ({wall:.3f} s wall)  real-time factor {T_s / cpu:8.1f}x  "
          f"output spikes {ours[0][2]}")
    if py is None:
        print("  brian2: not available (make brian2-env, or set SPIKESTREAM_BRIAN2_PYTHON); no ratio")
        return
    bcpu = statistics.median(r[0] for r in b)
    bwall = statistics.median(r[1] for r in b)
    print(f"  brian2 (cython): {bcpu:8.3f} s CPU ({bwall:.3f} s wall)  real-time factor {T_s / bcpu:8.1f}x  "
          f"output spikes {b[0][3]}; code generation + compile (first run) {b[0][2]:.1f} s wall, "
          f"later runs {statistics.median(r[2] for r in b[1:]):.1f} s (cached)")
    print(f"  ratio spikestream / brian2 real-time factor: {bcpu / cpu:.1f}x (CPU), {bwall / wall:.1f}x (wall)"
          f"  [target >= 10x]")


if __name__ == "__main__":
    sys.exit(main())
