"""Adaptive exponential integrate-and-fire (Brette & Gerstner 2005), pA, nS, pF, mV, ms.

    C dv/dt = -g_l (v - e_l) + g_l delta_t exp((v - v_t)/delta_t) - w + I
    tau_w dw/dt = a (v - e_l) - w
    v >= v_peak + theta  ->  v = v_reset, w += b

Forward Euler on sub-steps of at most 0.1 ms (Brian2 ``euler`` at that dt); the exponent is capped at
(v - v_t)/delta_t = 30 so a huge overshoot cannot overflow before the reset. Defaults: Brette & Gerstner
(2005) Table 1 (C 281 pF, g_l 30 nS, e_l -70.6, v_t -50.4, delta_t 2 mV, tau_w 144 ms, a 4 nS, b 80.5 pA,
v_reset = e_l); v_peak = v_t + 5 delta_t as in Brian2's AdEx example.
"""

import numpy as np
from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._integrate import decay_syn, layer_constants, load_syn, mark_spike, store_syn, syn_current
from spikestream.snn._rng import normal
from spikestream.snn.neuron import NeuronModel, slots

DEFAULTS = {"c_pf": 281.0, "g_l_ns": 30.0, "e_l": -70.6, "v_t": -50.4, "delta_t": 2.0, "tau_w_ms": 144.0,
            "a_ns": 4.0, "b_pa": 80.5, "v_reset": -70.6, "v_peak": -40.4}
V = slots("v", "w")
P = slots(*DEFAULTS)


def _check(p, dt_ms, h_ms):
    for k in ("c_pf", "g_l_ns", "delta_t", "tau_w_ms"):
        if p[k] <= 0:
            raise ValueError(f"{k} must be > 0")
    return p


@njit(cache=True)
def step_adex(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    c, g_l, e_l, v_t, d_t = pm[P.c_pf], pm[P.g_l_ns], pm[P.e_l], pm[P.v_t], pm[P.delta_t]
    tau_w, a, b, v_reset, v_peak = pm[P.tau_w_ms], pm[P.a_ns], pm[P.b_pa], pm[P.v_reset], pm[P.v_peak]
    e_exc, e_inh, dexc, dinh, nsub, h, ref, noise, sq = layer_constants(pc)
    for i in range(lo, hi):
        spk[i] = 0
        if refr[i] > 0:
            refr[i] -= 1
        v, w = S[V.v, i], S[V.w, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            x = (v - v_t) / d_t
            if x > 30.0:
                x = 30.0
            dw = (a * (v - e_l) - w) / tau_w
            if refr[i] == 0:
                cur = syn_current(ibias[i], ie, ii, ge, gi, e_exc, e_inh, v)
                v = v + h * (-g_l * (v - e_l) + g_l * d_t * np.exp(x) - w + cur) / c
                if noise > 0.0:
                    v += noise * sq * normal(rng)
            w = w + h * dw
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            if refr[i] == 0 and v >= v_peak + theta[i]:
                mark_spike(v, ref, refr, spk, vpk, i)
                v = v_reset
                w += b
        S[V.v, i], S[V.w, i] = v, w
        store_syn(syn, i, ie, ii, ge, gi)


NEURON_MODELS.register("adex")(NeuronModel(
    "adex", step_adex, V, P, DEFAULTS, lambda p: {"v": p["e_l"], "w": 0.0}, _check, substep_ms=0.1, t_ref_ms=0.0,
    reference="Brette & Gerstner 2005, J Neurophysiol 94:3637"))
