"""Two-variable excitable models: FitzHugh-Nagumo and Morris-Lecar. Forward Euler sub-steps; spikes are
upward crossings of v_th.

FitzHugh-Nagumo (FitzHugh 1961; Nagumo et al. 1962), dimensionless, one model time unit = time_scale_ms:
    dv/dt = v - v^3/3 - w + I          dw/dt = (v + a - b w) / tau
    a 0.7, b 0.8, tau 12.5, v_th 1.0; sub-steps <= 0.05 ms.

Morris-Lecar (Morris & Lecar 1981), Rinzel & Ermentrout (1989) Hopf parameter set; mV, ms, µA/cm²:
    C dv/dt = I - g_l (v - e_l) - g_ca m_inf(v) (v - e_ca) - g_k w (v - e_k)
    dw/dt = phi (w_inf(v) - w) / tau_w(v)
    m_inf = (1 + tanh((v - v1)/v2))/2, w_inf = (1 + tanh((v - v3)/v4))/2, tau_w = 1/cosh((v - v3)/(2 v4))
    C 20, g_ca 4.4, g_k 8, g_l 2, e_ca 120, e_k -84, e_l -60, v1 -1.2, v2 18, v3 2, v4 30, phi 0.04;
    sub-steps <= 0.05 ms.
"""

import math

import numpy as np
from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._crossing import crossed
from spikestream.snn._integrate import decay_syn, layer_constants, load_syn, store_syn, syn_current
from spikestream.snn._rng import normal
from spikestream.snn.neuron import NeuronModel, slots

FHN = {"a": 0.7, "b": 0.8, "tau": 12.5, "v_th": 1.0, "time_scale_ms": 1.0}
ML = {"c_uf": 20.0, "g_ca": 4.4, "g_k": 8.0, "g_l": 2.0, "e_ca": 120.0, "e_k": -84.0, "e_l": -60.0,
      "v1": -1.2, "v2": 18.0, "v3": 2.0, "v4": 30.0, "phi": 0.04, "v_th": 0.0}
V = slots("v", "w")  # both models
P_FHN = slots(*FHN)
P_ML = slots(*ML)


def _check_fhn(p, dt_ms, h_ms):
    if p["tau"] <= 0 or p["time_scale_ms"] <= 0:
        raise ValueError("tau and time_scale_ms must be > 0")
    return p


def _init_fhn(p):
    a, b = p["a"], p["b"]
    v = -1.2
    for _ in range(60):  # rest: v - v^3/3 - (v + a)/b = 0
        f = v - v ** 3 / 3 - (v + a) / b
        v -= f / (1 - v * v - 1 / b)
    return {"v": v, "w": (v + a) / b}


@njit(cache=True)
def step_fhn(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    a, b, tau, v_th, ts = pm[P_FHN.a], pm[P_FHN.b], pm[P_FHN.tau], pm[P_FHN.v_th], pm[P_FHN.time_scale_ms]
    e_exc, e_inh, dexc, dinh, nsub, h, _ref, noise, sq = layer_constants(pc)
    hm = h / ts
    for i in range(lo, hi):
        spk[i] = 0
        v, w = S[V.v, i], S[V.w, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            cur = syn_current(ibias[i], ie, ii, ge, gi, e_exc, e_inh, v)
            dv = v - v * v * v / 3.0 - w + cur
            dw = (v + a - b * w) / tau
            v = v + hm * dv
            w = w + hm * dw
            if noise > 0.0:
                v += noise * sq * normal(rng)
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            crossed(v, v_th, theta[i], flag, spk, vpk, i)
        S[V.v, i], S[V.w, i] = v, w
        store_syn(syn, i, ie, ii, ge, gi)


def _check_ml(p, dt_ms, h_ms):
    if p["c_uf"] <= 0 or p["phi"] <= 0 or p["v2"] == 0 or p["v4"] == 0:
        raise ValueError("c_uf and phi must be > 0, v2 and v4 nonzero")
    return p


def _init_ml(p):
    def f(v):
        m = 0.5 * (1 + math.tanh((v - p["v1"]) / p["v2"]))
        w = 0.5 * (1 + math.tanh((v - p["v3"]) / p["v4"]))
        return -p["g_l"] * (v - p["e_l"]) - p["g_ca"] * m * (v - p["e_ca"]) - p["g_k"] * w * (v - p["e_k"]), w

    lo, hi = -90.0, 0.0  # the resting point: the current balance changes sign once below 0 mV
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if f(mid)[0] > 0:
            lo = mid
        else:
            hi = mid
    v = 0.5 * (lo + hi)
    return {"v": v, "w": f(v)[1]}


@njit(cache=True)
def step_ml(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    P = P_ML
    c, g_ca, g_k, g_l = pm[P.c_uf], pm[P.g_ca], pm[P.g_k], pm[P.g_l]
    e_ca, e_k, e_l = pm[P.e_ca], pm[P.e_k], pm[P.e_l]
    v1, v2, v3, v4, phi, v_th = pm[P.v1], pm[P.v2], pm[P.v3], pm[P.v4], pm[P.phi], pm[P.v_th]
    e_exc, e_inh, dexc, dinh, nsub, h, _ref, noise, sq = layer_constants(pc)
    for i in range(lo, hi):
        spk[i] = 0
        v, w = S[V.v, i], S[V.w, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            m_inf = 0.5 * (1.0 + np.tanh((v - v1) / v2))
            w_inf = 0.5 * (1.0 + np.tanh((v - v3) / v4))
            inv_tau = np.cosh((v - v3) / (2.0 * v4))
            cur = syn_current(ibias[i], ie, ii, ge, gi, e_exc, e_inh, v)
            dv = (cur - g_l * (v - e_l) - g_ca * m_inf * (v - e_ca) - g_k * w * (v - e_k)) / c
            dw = phi * (w_inf - w) * inv_tau
            v = v + h * dv
            w = w + h * dw
            if noise > 0.0:
                v += noise * sq * normal(rng)
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            crossed(v, v_th, theta[i], flag, spk, vpk, i)
        S[V.v, i], S[V.w, i] = v, w
        store_syn(syn, i, ie, ii, ge, gi)


NEURON_MODELS.register("fhn")(NeuronModel(
    "fhn", step_fhn, V, P_FHN, FHN, _init_fhn, _check_fhn, substep_ms=0.05, e_exc=2.0, e_inh=-2.0, spiking="crossing",
    reference="FitzHugh 1961, Biophys J 1:445"))
NEURON_MODELS.register("morris_lecar")(NeuronModel(
    "morris_lecar", step_ml, V, P_ML, ML, _init_ml, _check_ml, substep_ms=0.05, spiking="crossing",
    reference="Morris & Lecar 1981, Biophys J 35:193; Rinzel & Ermentrout 1989 (Hopf set)"))
