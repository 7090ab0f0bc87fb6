"""Integrate-and-fire family: perfect IF, leaky IF, adaptive LIF — one kernel, voltage units (mV, ms).

    tau_m dv/dt = -g_l (v - e_l) + I - w          (g_l = 1 for LIF/ALIF, 0 for perfect IF)
    tau_w dw/dt = a (v - e_l) - w                 (ALIF only; w in mV)
    I = i_bias + I_exc - I_inh + g_exc (e_exc - v) + g_inh (e_inh - v)
    v >= v_th + theta  ->  spike, v = v_reset, w += b, refractory for t_ref

Exponential Euler (Brian2's ``exponential_euler``): exact for v between input spikes when w is frozen.
Defaults: Vogels & Abbott (2005) COBA benchmark (tau_m 20 ms, e_l -60, v_th -50, v_reset -60, t_ref 5 ms,
e_exc 0, e_inh -80); adaptation as in Gerstner et al., Neuronal Dynamics (2014) ch. 6.
"""

import numpy as np
from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._integrate import decay_syn, exp_euler, layer_constants, load_syn, mark_spike, store_syn
from spikestream.snn._rng import normal
from spikestream.snn.neuron import NeuronModel, slots

V = slots("v", "w")
P = slots("tau_m", "e_l", "v_th", "v_reset", "g_l", "a", "b", "tau_w", "leak", "wfac")

_REF = "Vogels & Abbott 2005 (J Neurosci 25:10786); Gerstner et al. 2014, Neuronal Dynamics ch. 1, 6"


def _derive(kind: str):
    def derive(p: dict, dt_ms: float, h_ms: float) -> dict:
        g_l = 0.0 if kind == "if" else 1.0
        e_l = p.get("e_l", 0.0)
        a, b, tau_w = (p["a"], p["b"], p["tau_w_ms"]) if kind == "alif" else (0.0, 0.0, 0.0)
        if p["tau_m_ms"] <= 0:
            raise ValueError("tau_m_ms must be > 0")
        if kind == "alif" and tau_w <= 0:
            raise ValueError("tau_w_ms must be > 0")
        leak = np.exp(-g_l * h_ms / p["tau_m_ms"])
        wfac = np.exp(-h_ms / tau_w) if tau_w > 0 else 1.0
        return {"tau_m": p["tau_m_ms"], "e_l": e_l, "v_th": p["v_th"], "v_reset": p["v_reset"], "g_l": g_l,
                "a": a, "b": b, "tau_w": tau_w, "leak": leak, "wfac": wfac}

    return derive


@njit(cache=True)
def step_lif(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    tau_m = pm[P.tau_m]
    e_l = pm[P.e_l]
    v_th = pm[P.v_th]
    v_reset = pm[P.v_reset]
    g_l = pm[P.g_l]
    a = pm[P.a]
    b = pm[P.b]
    adapt = pm[P.tau_w] > 0.0
    leak = pm[P.leak]
    wfac = pm[P.wfac]
    e_exc, e_inh, dexc, dinh, nsub, h, ref, noise, sq = layer_constants(pc)
    for i in range(lo, hi):
        spk[i] = 0
        if refr[i] > 0:
            refr[i] -= 1
        v = S[V.v, i]
        w = S[V.w, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            vold = v
            if refr[i] == 0:
                drive = ibias[i] + ie - ii - w
                if ge == 0.0 and gi == 0.0:
                    if g_l == 0.0:
                        v = v + drive / tau_m * h
                    else:
                        vinf = e_l + drive / g_l
                        v = vinf + (v - vinf) * leak
                else:
                    v = exp_euler(v, (g_l * e_l + drive + ge * e_exc + gi * e_inh) / tau_m,
                                  -(g_l + ge + gi) / tau_m, h)
                if noise > 0.0:
                    v += noise * sq * normal(rng)
            if adapt:
                winf = a * (vold - e_l)
                w = winf + (w - winf) * wfac
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            if refr[i] == 0 and v >= v_th + theta[i]:
                mark_spike(v, ref, refr, spk, vpk, i)
                v = v_reset
                w += b
        S[V.v, i] = v
        S[V.w, i] = w
        store_syn(syn, i, ie, ii, ge, gi)


_LIF = {"tau_m_ms": 20.0, "e_l": -60.0, "v_th": -50.0, "v_reset": -60.0}

NEURON_MODELS.register("if")(NeuronModel(
    "if", step_lif, V, P, {"tau_m_ms": 20.0, "v_th": -50.0, "v_reset": -60.0},
    lambda p: {"v": p["v_reset"], "w": 0.0}, _derive("if"), t_ref_ms=0.0, reference=_REF))
NEURON_MODELS.register("lif")(NeuronModel(
    "lif", step_lif, V, P, dict(_LIF),
    lambda p: {"v": p["e_l"], "w": 0.0}, _derive("lif"), t_ref_ms=5.0, reference=_REF))
NEURON_MODELS.register("alif")(NeuronModel(
    "alif", step_lif, V, P, {**_LIF, "a": 0.0, "b": 1.0, "tau_w_ms": 100.0},
    lambda p: {"v": p["e_l"], "w": 0.0}, _derive("alif"), t_ref_ms=5.0, reference=_REF))
