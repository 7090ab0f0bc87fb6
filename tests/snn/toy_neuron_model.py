"""A neuron model added in this one file (as a plugin would): importing it declares and registers
``toy_ramp``; no other file is edited. tests/snn/test_add_model.py runs it in a network.

    dv/dt = drive_per_ms + I          v >= v_th + theta  ->  spike, v = 0

Its kernel reads one named state row and two named parameter slots, one of them derived (`inc`).
"""

from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._integrate import decay_syn, layer_constants, load_syn, mark_spike, store_syn
from spikestream.snn.neuron import NeuronModel, slots

V = slots("v")
P = slots("inc", "v_th")


def _derive(p, dt_ms, h_ms):
    if p["v_th"] <= 0:
        raise ValueError("v_th must be > 0")
    return {"inc": p["drive_per_ms"] * h_ms, "v_th": p["v_th"]}


@njit(cache=True)
def step_toy_ramp(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    inc, v_th = pm[P.inc], pm[P.v_th]
    e_exc, e_inh, dexc, dinh, nsub, h, ref, noise, sq = layer_constants(pc)
    for i in range(lo, hi):
        spk[i] = 0
        v = S[V.v, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            v += inc + h * (ibias[i] + ie - ii)
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            if v >= v_th + theta[i]:
                mark_spike(v, ref, refr, spk, vpk, i)
                v = 0.0
        S[V.v, i] = v
        store_syn(syn, i, ie, ii, ge, gi)


NEURON_MODELS.register("toy_ramp")(NeuronModel(
    "toy_ramp", step_toy_ramp, V, P, {"drive_per_ms": 0.25, "v_th": 1.0}, lambda p: {"v": 0.0}, _derive,
    reference="a test of adding a model in one file"))
