"""spikestream vs Brian2 2.9: adaptive LIF, AdEx, Izhikevich (several presets), Hodgkin-Huxley, FitzHugh-Nagumo,
Morris-Lecar and Hindmarsh-Rose, driven by the same Poisson spike trains through exponential current
synapses.

Integration schemes, chosen so both sides do the same arithmetic:
* AdEx, Izhikevich: forward Euler (ours: sub-steps of <= 0.1 ms; the network dt here is 0.1 ms, so one
  sub-step; Brian2 ``method='euler'`` at dt = 0.1 ms).
* Adaptive LIF: exponential Euler at 0.1 ms (Brian2 ``exponential_euler``).
* FitzHugh-Nagumo, Morris-Lecar (0.05 ms), Hindmarsh-Rose (0.02 ms): forward Euler at our sub-step; spikes are
  upward crossings (Brian2: threshold and refractory condition both ``v >= v_th``).
* Hodgkin-Huxley: exponential Euler (Rush-Larsen gates, v exact with gates frozen) at 0.025 ms on both sides
  (Brian2 ``method='exponential_euler'``). Spikes: upward crossings of 0 mV (Brian2: threshold and
  refractory condition ``v >= v_th``).
* Synaptic currents decay exactly, ``I *= exp(-dt/tau)``, after the membrane update (Brian2: a
  ``run_regularly`` right after the state updater, since ``euler`` would not decay them exactly).

Tolerance: identical spike trains (same neuron, same step). Membrane potentials: 1e-6 mV (the two sides
evaluate the same expressions in a different floating-point order; Euler on the v^2 / exp terms amplifies
1e-15 rounding near spikes, still far below 1e-6 over these runs).
"""

import numpy as np
import pytest

from spikestream.snn.network import build_snn

from snn_brian2_harness import require_brian2, run_brian2

pytestmark = pytest.mark.slow


def poisson_inputs(n_in, rate_hz, T_us, dt_us, seed):
    rng = np.random.default_rng(seed)
    spk = rng.random((T_us // dt_us, n_in)) < rate_hz * dt_us * 1e-6
    step, idx = np.nonzero(spk)
    return idx.astype(np.int64), (step * dt_us).astype(np.int64)


SYN_EQS = "I_exc : 1\nI_inh : 1"
TAU_EXC, TAU_INH = 5.0, 10.0

MODELS = {
    "adex": dict(
        layer={"model": "adex"}, dt_us=100, scale=(900.0, 600.0), rec=("v", "w"), b2_names={"w": "w_ad"},
        eqs="""dv/dt = (-g_l*(v - e_l) + g_l*delta_t*exp((v - v_t)/delta_t) - w_ad + I_exc - I_inh)/c_m/ms : 1
dw_ad/dt = (a*(v - e_l) - w_ad)/tau_w/ms : 1""",
        ns={"c_m": 281.0, "g_l": 30.0, "e_l": -70.6, "v_t": -50.4, "delta_t": 2.0, "tau_w": 144.0, "a": 4.0,
            "b": 80.5, "v_reset": -70.6, "v_peak": -40.4},
        threshold="v >= v_peak", reset="v = v_reset\nw_ad += b", refractory=False, method="euler",
        init={"v": -70.6, "w": 0.0}),
    "hh": dict(
        layer={"model": "hh"}, dt_us=25, scale=(12.0, 8.0), rec=("v", "m", "h", "n"),
        eqs="""dv/dt = (I_exc - I_inh - g_na*m**3*h*(v - e_na) - g_k*n**4*(v - e_k) - g_l*(v - e_l))/c_m/ms : 1
dm/dt = (0.1*(-(v + 40))/(exp(-(v + 40)/10) - 1)*(1 - m) - 4*exp(-(v + 65)/18)*m)/ms : 1
dh/dt = (0.07*exp(-(v + 65)/20)*(1 - h) - 1/(1 + exp(-(v + 35)/10))*h)/ms : 1
dn/dt = (0.01*(-(v + 55))/(exp(-(v + 55)/10) - 1)*(1 - n) - 0.125*exp(-(v + 65)/80)*n)/ms : 1""",
        ns={"c_m": 1.0, "g_na": 120.0, "g_k": 36.0, "g_l": 0.3, "e_na": 50.0, "e_k": -77.0, "e_l": -54.387,
            "v_th": 0.0},
        threshold="v >= v_th", reset="", refractory="v >= v_th", method="exponential_euler", init=None),
    "alif": dict(
        layer={"model": "alif", "a": 0.5, "b": 2.0, "tau_w_ms": 100.0, "t_ref_ms": 2.0}, dt_us=100,
        scale=(6.0, 4.0), rec=("v", "w"), b2_names={"w": "w_ad"},
        eqs="""dv/dt = (e_l - v + I_exc - I_inh - w_ad)/tau_m/ms : 1 (unless refractory)
dw_ad/dt = (a*(v - e_l) - w_ad)/tau_w/ms : 1""",
        ns={"tau_m": 20.0, "e_l": -60.0, "v_th": -50.0, "v_reset": -60.0, "a": 0.5, "b": 2.0, "tau_w": 100.0},
        threshold="v >= v_th", reset="v = v_reset\nw_ad += b", refractory="2*ms", method="exponential_euler",
        init={"v": -60.0, "w": 0.0}),
    "fhn": dict(
        layer={"model": "fhn"}, dt_us=50, scale=(0.25, 0.2), rec=("v", "w"), b2_names={"w": "w_r"},
        eqs="""dv/dt = (v - v**3/3 - w_r + I_exc - I_inh)/ms : 1
dw_r/dt = (v + a - b*w_r)/tau/ms : 1""",
        ns={"a": 0.7, "b": 0.8, "tau": 12.5, "v_th": 1.0},
        threshold="v >= v_th", reset="", refractory="v >= v_th", method="euler", init=None),
    "morris_lecar": dict(
        layer={"model": "morris_lecar"}, dt_us=50, scale=(60.0, 40.0), rec=("v", "w"), b2_names={"w": "w_r"},
        eqs="""dv/dt = (I_exc - I_inh - g_l*(v - e_l) - g_ca*0.5*(1 + tanh((v - v1)/v2))*(v - e_ca) - g_k*w_r*(v - e_k))/c_m/ms : 1
dw_r/dt = phi*(0.5*(1 + tanh((v - v3)/v4)) - w_r)*cosh((v - v3)/(2*v4))/ms : 1""",
        ns={"c_m": 20.0, "g_ca": 4.4, "g_k": 8.0, "g_l": 2.0, "e_ca": 120.0, "e_k": -84.0, "e_l": -60.0,
            "v1": -1.2, "v2": 18.0, "v3": 2.0, "v4": 30.0, "phi": 0.04, "v_th": 0.0},
        threshold="v >= v_th", reset="", refractory="v >= v_th", method="euler", init=None),
    "hindmarsh_rose": dict(
        layer={"model": "hindmarsh_rose"}, dt_us=20, scale=(1.2, 1.0), rec=("x", "y", "z"),
        eqs="""dx/dt = (y - a*x**3 + b*x**2 - z + I_exc - I_inh)/ms : 1
dy/dt = (c - d*x**2 - y)/ms : 1
dz/dt = r*(s*(x - x_r) - z)/ms : 1""",
        ns={"a": 1.0, "b": 3.0, "c": 1.0, "d": 5.0, "r": 0.006, "s": 4.0, "x_r": -1.6, "x_th": 1.0},
        threshold="x >= x_th", reset="", refractory="x >= x_th", method="euler", init=None),
}
for _p in ("RS", "FS", "CH", "IB"):
    from spikestream.snn.model_izhikevich import PRESETS
    MODELS[f"izhikevich_{_p}"] = dict(
        layer={"model": "izhikevich", "preset": _p}, dt_us=100, scale=(14.0, 10.0), rec=("v", "u"),
        eqs="""dv/dt = (0.04*v**2 + 5*v + 140 - u + I_exc - I_inh)/ms : 1
du/dt = a*(b*v - u)/ms : 1""",
        ns={**PRESETS[_p], "v_peak": 30.0}, threshold="v >= v_peak", reset="v = c\nu += d", refractory=False,
        method="euler", init={"v": -65.0, "u": PRESETS[_p]["b"] * -65.0})


def run_model(name, T_us=1_000_000, n_out=5, seed=0, plastic=False):
    m = MODELS[name]
    dt_us = m["dt_us"]
    n_exc, n_inh = 80, 20
    n_in = n_exc + n_inh
    idx, t = poisson_inputs(n_in, 20.0, T_us, dt_us, seed)
    rng = np.random.default_rng(seed + 1)
    w_exc = rng.uniform(0, m["scale"][0], (n_in, n_out))
    w_exc[n_exc:] = 0.0
    w_inh = rng.uniform(0, m["scale"][1], (n_in, n_out))
    w_inh[:n_exc] = 0.0
    layer = {"name": "out", "n": n_out, "tau_exc_ms": TAU_EXC, "tau_inh_ms": TAU_INH, **m["layer"]}
    params = {"dt_us": dt_us, "seed": seed, "layers": [layer], "connections": [
        {"name": "exc", "pre": "input", "post": "out", "receptor": "exc"},
        {"name": "inh", "pre": "input", "post": "out", "receptor": "inh"}]}
    w_max = m["scale"][0]
    stdp = {"rule": "stdp_pair", "a_plus": 0.05 * w_max, "a_minus": 0.0525 * w_max, "tau_plus_ms": 20.0,
            "tau_minus_ms": 20.0, "w_min": 0.0, "w_max": w_max}
    if plastic:
        params["connections"][0]["plasticity"] = stdp
    snn = build_snn(params, n_in)
    for nm, w in (("exc", w_exc), ("inh", w_inh)):
        pre, post, _ = snn.connectivity(nm)
        snn.set_weights(nm, w[pre, post])
    for var in m["rec"]:
        snn.record("out", var)
    init = m["init"] or {var: float(snn.variable("out", var)[0]) for var in m["rec"]}
    snn.start(0)
    oi, ot = snn.advance(idx, t, T_us)
    ours = {var: snn.recorded("out", var)[1] for var in m["rec"]}
    ours["exc_w_final"] = snn.weights("exc")
    pre, post, _ = snn.connectivity("exc")
    ours["exc_w_initial"] = np.clip(w_exc[pre, post], 0.0, w_max)

    dt_ms = dt_us / 1000.0
    ns = {**m["ns"], "d_exc": float(np.exp(-dt_ms / TAU_EXC)), "d_inh": float(np.exp(-dt_ms / TAU_INH))}
    arrays = {"in_idx": idx, "in_t_us": t}
    # initial state exactly as ours (set before any step); a tiny offset would break bit-for-bit comparisons
    b2n = m.get("b2_names", {})
    for var in m["rec"]:
        arrays[f"init_{b2n.get(var, var)}"] = np.full(n_out, init[var])
    syns = []
    for nm, w in (("exc", w_exc), ("inh", w_inh)):
        pre, post, _ = snn.connectivity(nm)
        arrays[f"{nm}_i"], arrays[f"{nm}_j"], arrays[f"{nm}_w"] = pre, post, w[pre, post]
        syns.append({"name": nm, "model": "w : 1", "on_pre": f"I_{nm}_post += w"})
    if plastic:
        ns.update(a_plus=stdp["a_plus"], a_minus=stdp["a_minus"], w_max=w_max, tau_plus="20*ms",
                  tau_minus="20*ms")
        syns[0].update(model="""w : 1
dxpre/dt = -xpre / tau_plus : 1 (event-driven)
dypost/dt = -ypost / tau_minus : 1 (event-driven)""",
                       on_pre="I_exc_post += w\nw = clip(w - a_minus * ypost, 0, w_max)\nxpre += 1",
                       on_post="w = clip(w + a_plus * xpre, 0, w_max)\nypost += 1")
    cfg = {"dt_us": dt_us, "duration_us": T_us, "n_in": n_in, "n_out": n_out, "namespace": ns,
           "neuron": {"eqs": m["eqs"] + "\n" + SYN_EQS, "threshold": m["threshold"], "reset": m["reset"],
                      "refractory": m["refractory"], "method": m["method"],
                      "regularly": [["I_exc *= d_exc\nI_inh *= d_inh", "groups", 1]]},
           "synapses": syns, "record": [b2n.get(v, v) for v in m["rec"]]}
    b2 = run_brian2("generic_net.py", arrays, cfg)
    for var in m["rec"]:
        b2[var] = b2[b2n.get(var, var)]
    return oi, ot, ours, b2


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_matches_brian2(name):
    require_brian2()
    T_us = 250_000 if MODELS[name]["dt_us"] < 100 else 1_000_000
    oi, ot, ours, b2 = run_model(name, T_us=T_us)
    assert b2["spike_i"].size >= 20, f"vacuous comparison: Brian2's {name} fired {b2['spike_i'].size} times"
    a = np.lexsort((oi, ot))
    b = np.lexsort((b2["spike_i"], b2["spike_t_us"]))
    np.testing.assert_array_equal(ot[a], b2["spike_t_us"][b])
    np.testing.assert_array_equal(oi[a], b2["spike_i"][b])
    for var in MODELS[name]["rec"]:
        np.testing.assert_allclose(ours[var][:-1], b2[var][1:], rtol=0, atol=1e-6, err_msg=f"{name}: {var}")


@pytest.mark.parametrize("name", ["adex", "hh", "izhikevich_RS"])
def test_stdp_onto_model_matches_brian2(name):
    """Additive pair STDP on the excitatory inputs of each model: identical spikes and final weights."""
    require_brian2()
    T_us = 250_000 if MODELS[name]["dt_us"] < 100 else 1_000_000
    oi, ot, ours, b2 = run_model(name, T_us=T_us, plastic=True, seed=2)
    assert b2["spike_i"].size >= 20
    a = np.lexsort((oi, ot))
    b = np.lexsort((b2["spike_i"], b2["spike_t_us"]))
    np.testing.assert_array_equal(ot[a], b2["spike_t_us"][b])
    np.testing.assert_array_equal(oi[a], b2["spike_i"][b])
    w_max = MODELS[name]["scale"][0]
    assert np.abs(ours["exc_w_final"] - ours["exc_w_initial"]).max() > 0.1 * w_max  # the weights moved
    np.testing.assert_allclose(ours["exc_w_final"], b2["exc_w_final"], rtol=0, atol=1e-9 * w_max)
