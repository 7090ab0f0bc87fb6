"""Brian2 side of the spikestream comparisons: run under the Brian2 virtualenv (numpy<2), not ours.

usage: python generic_net.py IN.npz OUT.npz

IN.npz holds ``config`` (JSON) and arrays. The network: a SpikeGeneratorGroup of ``n_in`` inputs
(``in_idx``, ``in_t_us``; at most one spike per input and step, at step starts) -> one or more Synapses
groups -> one NeuronGroup of ``n_out`` neurons. Equations, threshold, reset, refractoriness, integration
method and the synapses' models and pathways come as strings in the config, so the test states exactly
which model it compares; constants come as ``namespace`` strings evaluated with Brian2's units.

config keys: dt_us, duration_us, n_in, n_out, target ("numpy" | "cython"), seed, namespace,
  neuron: {eqs, threshold, reset, refractory, method, init: {var: value-string},
           regularly: [[code, when, order], ...] (NeuronGroup.run_regularly every step)}
  synapses: [{name, model, on_pre, on_post, method, record_w_every_us, source: "input" | "neurons",
              regularly: [[code, when, order], ...]}]
  timed_arrays: {name: array key} -> TimedArray(values per step) in the namespace
  record: [neuron variables recorded every step], warmup_us (run first and timed apart: compilation)
arrays: in_idx, in_t_us, <name>_i, <name>_j, <name>_w, optional <name>_delay_us per synapse group;
  init_<var> (SI values) per neuron variable.
OUT.npz: spike_i, spike_t_us, <var> [T, n_out] (SI; Brian2 records at the *start* of each step),
  rec_t_us, <name>_w_final, <name>_w [T, n_syn], <name>_w_t_us, t_compile_s, t_run_s (wall),
  cpu_compile_s, cpu_run_s (process CPU time).
"""

import json
import sys
import time

import numpy as np

import brian2 as b2
from brian2 import (second, NeuronGroup, SpikeGeneratorGroup, Synapses, SpikeMonitor, StateMonitor,
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
    for name, key in cfg.get("timed_arrays", {}).items():  # per-step values, e.g. reward increments
        ns[name] = b2.TimedArray(z[key], dt=dt)
    neu = cfg["neuron"]
    refr = neu.get("refractory", False)
    if isinstance(refr, str):
        try:
            refr = eval(refr, {k: getattr(b2, k) for k in dir(b2) if not k.startswith("_")})
        except Exception:  # a condition string, which Brian2 takes as is
            pass
    G = NeuronGroup(cfg["n_out"], neu["eqs"], threshold=neu["threshold"], reset=neu.get("reset", ""),
                    refractory=refr, method=neu.get("method", "euler"), namespace=ns, name="post")
    for k, (code, when, order) in enumerate(neu.get("regularly", [])):
        # e.g. exact decay of a synaptic variable right after the state update: ("I *= d", "groups", 1)
        G.run_regularly(code, when=when, order=order, name=f"post_regularly_{k}")
    for var, val in neu.get("init", {}).items():
        setattr(G, var, val)
    for key in z.files:
        if key.startswith("init_"):
            getattr(G, key[5:] + "_")[:] = z[key]  # SI values, unitless view
    in_idx = z["in_idx"].astype(np.int64)
    in_t = z["in_t_us"].astype(np.int64)
    # SpikeGeneratorGroup wants at most one spike per (neuron, step): the caller guarantees it
    P = SpikeGeneratorGroup(cfg["n_in"], in_idx, (in_t * 1e-6) * second, dt=dt, name="pre")
    SM = SpikeMonitor(G)
    objs = [G, P, SM]
    syns = []
    for sc in cfg["synapses"]:
        nm = sc["name"]
        src = G if sc.get("source", "input") == "neurons" else P  # recurrent or from the inputs
        S = Synapses(src, G, model=sc.get("model", "w : 1"), on_pre=sc.get("on_pre", ""),
                     on_post=sc.get("on_post", None), method=sc.get("method", "exact"), namespace=ns,
                     name="syn_" + nm)
        S.connect(i=z[nm + "_i"].astype(np.int64), j=z[nm + "_j"].astype(np.int64))
        S.w[:] = z[nm + "_w"]
        if nm + "_delay_us" in z.files:
            S.delay[:] = (z[nm + "_delay_us"] * 1e-6) * second
        for k, (code, when, order) in enumerate(sc.get("regularly", [])):
            S.run_regularly(code, when=when, order=order, name=f"syn_{nm}_regularly_{k}")
        objs.append(S)
        WM = None
        if sc.get("record_w_every_us", 0):
            WM = StateMonitor(S, "w", record=True, dt=sc["record_w_every_us"] * 1e-6 * second)
            objs.append(WM)
        syns.append((nm, S, WM))
    rec = cfg.get("record", [])
    VM = None
    if rec:
        VM = StateMonitor(G, rec, record=True)
        objs.append(VM)
    net = Network(*objs)
    c0 = time.process_time()
    t0 = time.perf_counter()
    warm = cfg.get("warmup_us", 0)
    if warm:
        net.run(warm * 1e-6 * second)  # compiles every code object; counted apart from the run
    t1 = time.perf_counter()
    c1 = time.process_time()
    net.run((cfg["duration_us"] - warm) * 1e-6 * second)
    t2 = time.perf_counter()
    c2 = time.process_time()
    res = {
        "spike_i": np.asarray(SM.i[:], np.int64),
        "spike_t_us": np.rint(np.asarray(SM.t[:] / second) * 1e6).astype(np.int64),
        "t_compile_s": np.array(t1 - t0),
        "t_run_s": np.array(t2 - t1),
        "cpu_compile_s": np.array(c1 - c0),  # this process only; cython compilers run as children
        "cpu_run_s": np.array(c2 - c1),
    }
    for nm, S, WM in syns:
        res[nm + "_w_final"] = np.asarray(S.w[:], np.float64)
        if WM is not None:
            res[nm + "_w"] = np.asarray(WM.w).T
            res[nm + "_w_t_us"] = np.rint(np.asarray(WM.t / second) * 1e6).astype(np.int64)
    if VM is not None:
        for var in rec:
            res[var] = np.asarray(getattr(VM, var + "_")).T  # SI, [T, n_out]
        res["rec_t_us"] = np.rint(np.asarray(VM.t / second) * 1e6).astype(np.int64)
    np.savez(out, **res)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
