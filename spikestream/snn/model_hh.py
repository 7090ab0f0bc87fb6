"""Hodgkin-Huxley (1952) squid axon, modern sign convention (rest near -65 mV); µA/cm², mS/cm², µF/cm², mV.

    C dv/dt = I - g_na m^3 h (v - e_na) - g_k n^4 (v - e_k) - g_l (v - e_l)
    dx/dt = alpha_x(v) (1 - x) - beta_x(v) x            x in {m, h, n}
    alpha_m = 0.1 (v+40) / (1 - exp(-(v+40)/10))   beta_m = 4 exp(-(v+65)/18)
    alpha_h = 0.07 exp(-(v+65)/20)                  beta_h = 1 / (1 + exp(-(v+35)/10))
    alpha_n = 0.01 (v+55) / (1 - exp(-(v+55)/10))  beta_n = 0.125 exp(-(v+65)/80)

Integrator: exponential Euler (Rush & Larsen 1978 for the gates, exact for v with the gates frozen), all
variables from the values at the start of the sub-step — what Brian2's ``exponential_euler`` does.
Sub-steps of at most 0.025 ms. Spike: upward crossing of v_th (0 mV). Refractoriness is intrinsic.
"""


import numpy as np
from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._crossing import crossed
from spikestream.snn._integrate import decay_syn, exp_euler, layer_constants, load_syn, store_syn, syn_current
from spikestream.snn._rng import normal
from spikestream.snn.neuron import NeuronModel, slots

DEFAULTS = {"c_uf": 1.0, "g_na": 120.0, "g_k": 36.0, "g_l": 0.3, "e_na": 50.0, "e_k": -77.0, "e_l": -54.387,
            "v_th": 0.0}
V = slots("v", "m", "h", "n")
P = slots(*DEFAULTS)


@njit(cache=True)
def _vtrap(x, y):
    """x / (exp(x/y) - 1), continuous at x = 0."""
    r = x / y
    if abs(r) < 1e-6:
        return y * (1.0 - 0.5 * r)
    return x / (np.exp(r) - 1.0)


@njit(cache=True)
def rates(v):
    am = 0.1 * _vtrap(-(v + 40.0), 10.0)
    bm = 4.0 * np.exp(-(v + 65.0) / 18.0)
    ah = 0.07 * np.exp(-(v + 65.0) / 20.0)
    bh = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
    an = 0.01 * _vtrap(-(v + 55.0), 10.0)
    bn = 0.125 * np.exp(-(v + 65.0) / 80.0)
    return am, bm, ah, bh, an, bn


def _check(p, dt_ms, h_ms):
    if p["c_uf"] <= 0:
        raise ValueError("c_uf must be > 0")
    return p


def _init(p):
    v = -65.0
    am, bm, ah, bh, an, bn = rates(v)
    return {"v": v, "m": am / (am + bm), "h": ah / (ah + bh), "n": an / (an + bn)}


@njit(cache=True)
def step_hh(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    c, g_na, g_k, g_l = pm[P.c_uf], pm[P.g_na], pm[P.g_k], pm[P.g_l]
    e_na, e_k, e_l, v_th = pm[P.e_na], pm[P.e_k], pm[P.e_l], pm[P.v_th]
    e_exc, e_inh, dexc, dinh, nsub, h, _ref, noise, sq = layer_constants(pc)
    for i in range(lo, hi):
        spk[i] = 0
        v, m, hh, n = S[V.v, i], S[V.m, i], S[V.h, i], S[V.n, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            am, bm, ah, bh, an, bn = rates(v)
            gna = g_na * m * m * m * hh
            n2 = n * n
            gk = g_k * n2 * n2
            A = (ibias[i] + ie - ii + gna * e_na + gk * e_k + g_l * e_l + ge * e_exc + gi * e_inh) / c
            B = -(gna + gk + g_l + ge + gi) / c
            v_new = exp_euler(v, A, B, h)
            m = exp_euler(m, am, -(am + bm), h)
            hh = exp_euler(hh, ah, -(ah + bh), h)
            n = exp_euler(n, an, -(an + bn), h)
            v = v_new
            if noise > 0.0:
                v += noise * sq * normal(rng)
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            crossed(v, v_th, theta[i], flag, spk, vpk, i)
        S[V.v, i], S[V.m, i], S[V.h, i], S[V.n, i] = v, m, hh, n
        store_syn(syn, i, ie, ii, ge, gi)


NEURON_MODELS.register("hh")(NeuronModel(
    "hh", step_hh, V, P, DEFAULTS, _init, _check, substep_ms=0.025, spiking="crossing",
    reference="Hodgkin & Huxley 1952, J Physiol 117:500; rates as in Dayan & Abbott 2001 / Brian2 docs"))
