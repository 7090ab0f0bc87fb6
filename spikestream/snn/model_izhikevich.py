"""Izhikevich (2003) simple model, mV and ms, input in the model's current units.

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I
    du/dt = a (b v - u)
    v >= v_peak + theta  ->  v = c, u += d

Forward Euler on both variables, sub-steps of at most 0.1 ms (Izhikevich's own code used two 0.5 ms
half-steps for v). Presets: Izhikevich 2003 Fig. 2 / 2004 — RS, IB, CH, FS, LTS, TC, RZ.
Initial state v = -65, u = b v.
"""

from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._integrate import decay_syn, layer_constants, load_syn, mark_spike, store_syn, syn_current
from spikestream.snn._rng import normal
from spikestream.snn.neuron import NeuronModel, slots

PRESETS = {
    "RS": {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0},    # regular spiking
    "IB": {"a": 0.02, "b": 0.2, "c": -55.0, "d": 4.0},    # intrinsically bursting
    "CH": {"a": 0.02, "b": 0.2, "c": -50.0, "d": 2.0},    # chattering
    "FS": {"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0},     # fast spiking
    "LTS": {"a": 0.02, "b": 0.25, "c": -65.0, "d": 2.0},  # low-threshold spiking
    "TC": {"a": 0.02, "b": 0.25, "c": -65.0, "d": 0.05},  # thalamo-cortical
    "RZ": {"a": 0.1, "b": 0.26, "c": -65.0, "d": 2.0},    # resonator
}
DEFAULTS = {**PRESETS["RS"], "v_peak": 30.0}
V = slots("v", "u")
P = slots(*DEFAULTS)


@njit(cache=True)
def step_izhikevich(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    a, b, c, d, v_peak = pm[P.a], pm[P.b], pm[P.c], pm[P.d], pm[P.v_peak]
    e_exc, e_inh, dexc, dinh, nsub, h, ref, noise, sq = layer_constants(pc)
    for i in range(lo, hi):
        spk[i] = 0
        if refr[i] > 0:
            refr[i] -= 1
        v, u = S[V.v, i], S[V.u, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            du = a * (b * v - u)
            if refr[i] == 0:
                cur = syn_current(ibias[i], ie, ii, ge, gi, e_exc, e_inh, v)
                v = v + h * (0.04 * v * v + 5.0 * v + 140.0 - u + cur)
                if noise > 0.0:
                    v += noise * sq * normal(rng)
            u = u + h * du
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            if refr[i] == 0 and v >= v_peak + theta[i]:
                mark_spike(v, ref, refr, spk, vpk, i)
                v = c
                u += d
        S[V.v, i], S[V.u, i] = v, u
        store_syn(syn, i, ie, ii, ge, gi)


NEURON_MODELS.register("izhikevich")(NeuronModel(
    "izhikevich", step_izhikevich, V, P, DEFAULTS,
    lambda p: {"v": -65.0, "u": p["b"] * -65.0}, substep_ms=0.1, presets=PRESETS,
    reference="Izhikevich 2003, IEEE Trans Neural Netw 14:1569; 2004, 15:1063"))
