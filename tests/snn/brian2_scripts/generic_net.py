"""Brian2 side of the spikestream comparisons: run under the Brian2 virtualenv (numpy<2), not ours.

usage: python generic_net.py IN.npz OUT.npz

IN.npz holds ``config`` (JSON) and arrays. The network: a SpikeGeneratorGroup of ``n_in`` inputs
(``in_idx``, ``in_t_us``) -> Synapses (``syn_i``, ``syn_j``, ``syn_w``, optional ``syn_delay_us``) ->
NeuronGroup of ``n_out`` neurons. Equations, threshold, reset, refractoriness, integration method,
synaptic model and pre/post pathways come as strings in the config, so the test states exactly which
model it compares; constants come as ``namespace`` strings evaluated with Brian2's units (``"10*ms"``).

config keys: dt_us, duration_us, n_in, n_out, target ("numpy" | "cython"), seed,
  neuron: {eqs, threshold, reset, refractory, method, init: {var: scalar-string}}
  synapse: {model, on_pre, on_post, method}
  record_v: [neuron vars], record_w_every_us (0 = none), warmup_us (cython: compile first, timed apart)
Array overrides: ``init_<var>`` arrays set neuron variables before the run.
OUT.npz: spike_i, spike_t_us, <var> [T, n_out] per recorded variable, w_t_us, w [T, n_syn], w_final,
  t_compile_s, t_run_s.
"""

import json
import sys
import time

import numpy as np

import brian2 as b2
from brian2 import (ms, second, NeuronGroup, SpikeGeneratorGroup, Synapses, SpikeMonitor, StateMonitor,
                    Network, defaultclock, prefs, seed as b2seed)


def _ns(cfg):
    env = {k: getattr(b2, k) for k in dir(b2) if not k.startswith("_")}
    return {k: eval(v, env) if isinstance(v, str) else v for k, v in cfg.get("namespace", {}).items()}


def main(inp, out):
    z = np.load(inp, allow_pickle=False)
    cfg = json.loads(str(z["config"]))
    prefs.codegen.target = cfg.get("target", "numpy")
    b2seed(int(cfg.get("seed", 0)))
    dt = cfg["dt_us"] * 1e-6 * second
    defaultclock.dt = dt
    ns = _ns(cfg)
    neu = cfg["neuron"]
    refr = neu.get("refractory", False)
    if isinstance(refr, str):
        try:
            refr = eval(refr, {k: getattr(b2, k) for k in dir(b2) if not k.startswith("_")})
        except Exception:  # a condition string, which Brian2 takes as is
            pass
    G = NeuronGroup(cfg["n_out"], neu["eqs"], threshold=neu["threshold"], reset=neu.get("reset", ""),
                    refractory=refr, method=neu.get("method", "euler"), namespace=ns, name="post")
    for var, val in neu.get("init", {}).items():
        setattr(G, var, val)
    for key in z.files:
        if key.startswith("init_"):
            getattr(G, key[5:] + "_")[:] = z[key]  # SI values, unitless view
    in_idx = z["in_idx"].astype(np.int64)
    in_t = z["in_t_us"].astype(np.int64)
    # SpikeGeneratorGroup wants at most one spike per (neuron, step): the caller guarantees it
    P = SpikeGeneratorGroup(cfg["n_in"], in_idx, (in_t * 1e-6) * second, dt=dt, name="pre")
    syn = cfg["synapse"]
    S = Synapses(P, G, model=syn.get("model", "w : 1"), on_pre=syn.get("on_pre", ""),
                 on_post=syn.get("on_post", None), method=syn.get("method", "exact"), namespace=ns,
                 name="syn")
    S.connect(i=z["syn_i"].astype(np.int64), j=z["syn_j"].astype(np.int64))
    S.w[:] = z["syn_w"]
    if "syn_delay_us" in z.files:
        S.delay[:] = (z["syn_delay_us"] * 1e-6) * second
    for var, val in syn.get("init", {}).items():
        setattr(S, var, val)
    SM = SpikeMonitor(G)
    objs = [G, P, S, SM]
    rec = cfg.get("record_v", [])
    VM = None
    if rec:
        VM = StateMonitor(G, rec, record=True)
        objs.append(VM)
    WM = None
    if cfg.get("record_w_every_us", 0):
        WM = StateMonitor(S, "w", record=True, dt=cfg["record_w_every_us"] * 1e-6 * second)
        objs.append(WM)
    net = Network(*objs)
    t0 = time.perf_counter()
    warm = cfg.get("warmup_us", 0)
    if warm:
        net.run(warm * 1e-6 * second)  # compiles every code object; counted apart from the run
    t1 = time.perf_counter()
    net.run((cfg["duration_us"] - warm) * 1e-6 * second)
    t2 = time.perf_counter()
    res = {
        "spike_i": np.asarray(SM.i[:], np.int64),
        "spike_t_us": np.rint(np.asarray(SM.t[:] / second) * 1e6).astype(np.int64),
        "w_final": np.asarray(S.w[:], np.float64),
        "t_compile_s": np.array(t1 - t0),
        "t_run_s": np.array(t2 - t1),
    }
    if VM is not None:
        for var in rec:
            res[var] = np.asarray(getattr(VM, var + "_")).T  # SI, [T, n_out]
        res["v_t_us"] = np.rint(np.asarray(VM.t / second) * 1e6).astype(np.int64)
    if WM is not None:
        res["w"] = np.asarray(WM.w).T
        res["w_t_us"] = np.rint(np.asarray(WM.t / second) * 1e6).astype(np.int64)
    np.savez(out, **res)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
