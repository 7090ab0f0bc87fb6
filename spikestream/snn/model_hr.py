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
from spikestream.snn.neuron import M_HR, NeuronModel, pack_in_order

_NAMES = ["a", "b", "c", "d", "r", "s", "x_r", "x_th", "time_scale_ms"]


def _pack(p, dt_ms, h_ms):
    if p["time_scale_ms"] <= 0:
        raise ValueError("time_scale_ms must be > 0")
    return pack_in_order(p, _NAMES)


@njit(cache=True)
def step_hr(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    a, b, c, d, r, s, x_r, x_th, ts = pm[0], pm[1], pm[2], pm[3], pm[4], pm[5], pm[6], pm[7], pm[8]
    e_exc, e_inh, dexc, dinh, nsub, h, _ref, noise, sq = layer_constants(pc)
    hm = h / ts
    for i in range(lo, hi):
        spk[i] = 0
        x, y, z = S[0, i], S[1, i], S[2, i]
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
        S[0, i], S[1, i], S[2, i] = x, y, z
        store_syn(syn, i, ie, ii, ge, gi)


NEURON_MODELS.register("hindmarsh_rose")(NeuronModel(
    "hindmarsh_rose", M_HR, ("x", "y", "z"),
    {"a": 1.0, "b": 3.0, "c": 1.0, "d": 5.0, "r": 0.006, "s": 4.0, "x_r": -1.6, "x_th": 1.0,
     "time_scale_ms": 1.0},
    _pack, lambda p: {"x": p["x_r"], "y": p["c"] - p["d"] * p["x_r"] ** 2, "z": 0.0}, substep_ms=0.02,
    e_exc=2.0, e_inh=-2.0, spiking="crossing", reference="Hindmarsh & Rose 1984, Proc R Soc B 221:87"))
