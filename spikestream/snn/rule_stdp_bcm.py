"""Triplet STDP with BCM's sliding threshold (Pfister & Gerstner 2006, minimal model and BCM link;
Clopath et al. 2010's homeostatic LTD amplitude): the pair depression amplitude of each post neuron j is
``a2_minus * rho_j**2 / rate_hz**2``, where rho_j (Hz) is j's running rate,
``d rho_j / dt = -rho_j / tau_rate + sum_spikes delta(t - t_j)`` (per spike rho_j += 1 / tau_rate), kept as
state `rho` and starting at rate_hz. A neuron firing above rate_hz depresses more, so its threshold rises
with it and its rate settles near rate_hz**2 / theta (theta: `triplet_threshold_hz`). ``rate_hz`` defaults
to theta of the parameter set (18.1 Hz for visual_all_to_all): the fixed point is then the triplet rule's
own threshold, and no rate is tuned per data set."""

import math

from numba import njit

from spikestream.snn import rule_stdp_triplet as triplet
from spikestream.snn.learning import LearningRule, decay, register, rule_slots

R = rule_slots(*triplet.R._fields, "a2_rate")  # a2_rate = a2_minus / rate_hz**2


def derive(p, dt_ms):
    out = triplet.derive(p, dt_ms, "stdp_bcm")
    rate = p["rate_hz"]
    if rate is None:
        rate = triplet.triplet_threshold_hz(p)
    tau = p["tau_rate_ms"]
    for k, v in (("rate_hz", rate), ("tau_rate_ms", tau)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"stdp_bcm: {k} must be a positive number, got {v!r}")
    out["d_rate"] = decay(tau, dt_ms, "tau_rate_ms")
    out["rate_inc"] = 1e3 / tau
    out["rate0"] = rate
    out["a2_rate"] = float(p["a2_minus"]) / (float(rate) * float(rate))
    return out


@njit(cache=True)
def pre_amp(pp, p, x2):
    """The triplet term only: the pair term depends on the post neuron (`rate_amp`)."""
    return pp[p, R.a3_minus] * x2


@njit(cache=True)
def rate_amp(pp, p, amp, rate):
    return pp[p, R.a2_rate] * rate * rate + amp


register(LearningRule("stdp_bcm", {**triplet.PARAMS, "tau_rate_ms": 1000.0, "rate_hz": None}, R, derive,
                      pre_amp, triplet.post_amp, rate_amp=rate_amp, optional=("rate_hz",),
                      presets=triplet.TRIPLET_PRESETS, reference="Pfister & Gerstner 2006; Clopath et al. 2010"))
