"""Hindmarsh-Rose (1984) bursting neuron, dimensionless; one model time unit = time_scale_ms.

    dx/dt = y - a x^3 + b x^2 - z + I
    dy/dt = c - d x^2 - y
    dz/dt = r (s (x - x_r) - z)

a 1, b 3, c 1, d 5, s 4, x_r -1.6, r 0.006 (bursting for I near 2-3.5); forward Euler, sub-steps
<= 0.02 ms; spikes are upward crossings of x_th = 1.
"""

from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._crossing import crossed
from spikestream.snn._integrate import decay_syn, layer_constants, load_syn, store_syn, syn_current
from spikestream.snn._rng import normal
from spikestream.snn.neuron import NeuronModel, slots

DEFAULTS = {"a": 1.0, "b": 3.0, "c": 1.0, "d": 5.0, "r": 0.006, "s": 4.0, "x_r": -1.6, "x_th": 1.0,
            "time_scale_ms": 1.0}
V = slots("x", "y", "z")
P = slots(*DEFAULTS)


def _check(p, dt_ms, h_ms):
    if p["time_scale_ms"] <= 0:
        raise ValueError("time_scale_ms must be > 0")
    return p


@njit(cache=True)
def step_hr(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    a, b, c, d, r = pm[P.a], pm[P.b], pm[P.c], pm[P.d], pm[P.r]
    s, x_r, x_th, ts = pm[P.s], pm[P.x_r], pm[P.x_th], pm[P.time_scale_ms]
    e_exc, e_inh, dexc, dinh, nsub, h, _ref, noise, sq = layer_constants(pc)
    hm = h / ts
    for i in range(lo, hi):
        spk[i] = 0
        x, y, z = S[V.x, i], S[V.y, i], S[V.z, i]
        ie, ii, ge, gi = load_syn(syn, i)
        for _ in range(nsub):
            cur = syn_current(ibias[i], ie, ii, ge, gi, e_exc, e_inh, x)
            dx = y - a * x * x * x + b * x * x - z + cur
            dy = c - d * x * x - y
            dz = r * (s * (x - x_r) - z)
            x = x + hm * dx
            y = y + hm * dy
            z = z + hm * dz
            if noise > 0.0:
                x += noise * sq * normal(rng)
            ie, ii, ge, gi = decay_syn(ie, ii, ge, gi, dexc, dinh)
            crossed(x, x_th, theta[i], flag, spk, vpk, i)
        S[V.x, i], S[V.y, i], S[V.z, i] = x, y, z
        store_syn(syn, i, ie, ii, ge, gi)


NEURON_MODELS.register("hindmarsh_rose")(NeuronModel(
    "hindmarsh_rose", step_hr, V, P, DEFAULTS,
    lambda p: {"x": p["x_r"], "y": p["c"] - p["d"] * p["x_r"] ** 2, "z": 0.0}, _check, substep_ms=0.02,
    e_exc=2.0, e_inh=-2.0, spiking="crossing", reference="Hindmarsh & Rose 1984, Proc R Soc B 221:87"))
