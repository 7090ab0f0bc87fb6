"""Poisson generator layer: neuron i spikes with probability (rate_hz + i_bias[i]) * dt per step.

Per-neuron rates: ``snn.set_bias(layer, rates_hz)`` (the bias adds to rate_hz)."""

from numba import njit

from spikestream.registry import NEURON_MODELS
from spikestream.snn._rng import uniform
from spikestream.snn.neuron import C_DT, NeuronModel, slots

P = slots("rate_hz")


def _check(p: dict, dt_ms: float, h_ms: float) -> dict:
    if p["rate_hz"] < 0 or p["rate_hz"] * dt_ms / 1000.0 > 1.0:
        raise ValueError("rate_hz must be >= 0 and rate_hz * dt <= 1")
    return p


@njit(cache=True)
def step_poisson(lo, hi, S, syn, refr, flag, theta, ibias, pm, pc, rng, spk, vpk):
    scale = pc[C_DT] * 1e-3
    for i in range(lo, hi):
        p = (pm[P.rate_hz] + ibias[i]) * scale
        spk[i] = 0
        syn[0, i] = 0.0
        syn[1, i] = 0.0
        syn[2, i] = 0.0
        syn[3, i] = 0.0
        if uniform(rng) < p:
            spk[i] = 1
            vpk[i] = 1.0


NEURON_MODELS.register("poisson")(NeuronModel(
    "poisson", step_poisson, (), P, {"rate_hz": 10.0}, lambda p: {}, _check, e_exc=0.0, e_inh=0.0,
    reference="homogeneous Poisson process, Bernoulli per step"))
