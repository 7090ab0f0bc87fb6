"""Triplet STDP (Pfister & Gerstner 2006): on pre, ``w -= y1 (a2_minus + a3_minus x2(t-))``; on post,
``w += x1 (a2_plus + a3_plus y2(t-))``. Weights hard-bounded to [w_min, w_max]."""

from numba import njit

from spikestream.snn.learning import LearningRule, decay, register, rule_slots, stdp_common

R = rule_slots("a2_plus", "a2_minus", "a3_plus", "a3_minus")

#: Pfister & Gerstner (2006) fitted parameter sets of the full triplet model (their Tables 3-4; tau_plus
#: 16.8 ms, tau_minus 33.7 ms for all). visual_all_to_all equals NEST's stdp_triplet_synapse defaults.
TRIPLET_PRESETS: dict[str, dict[str, float | str]] = {
    "visual_all_to_all": {"tau_x_ms": 101.0, "tau_y_ms": 125.0, "a2_plus": 5e-10, "a3_plus": 6.2e-3,
                          "a2_minus": 7e-3, "a3_minus": 2.3e-4, "interaction": "all"},
    "visual_nearest": {"tau_x_ms": 714.0, "tau_y_ms": 40.0, "a2_plus": 8.8e-11, "a3_plus": 5.3e-2,
                       "a2_minus": 6.6e-3, "a3_minus": 3.1e-3, "interaction": "nearest"},
    "hippocampal_all_to_all": {"tau_x_ms": 946.0, "tau_y_ms": 27.0, "a2_plus": 6.1e-3, "a3_plus": 6.7e-3,
                               "a2_minus": 1.6e-3, "a3_minus": 1.4e-3, "interaction": "all"},
    "hippocampal_nearest": {"tau_x_ms": 575.0, "tau_y_ms": 47.0, "a2_plus": 4.6e-3, "a3_plus": 9.1e-3,
                            "a2_minus": 3e-3, "a3_minus": 7.5e-9, "interaction": "nearest"},
}
PARAMS = {"tau_plus_ms": 16.8, "tau_minus_ms": 33.7, "tau_x_ms": None, "tau_y_ms": None, "a2_plus": None,
          "a3_plus": None, "a2_minus": None, "a3_minus": None, "w_min": 0.0, "w_max": 1.0, "bound": "hard",
          "interaction": "all", "preset": "visual_all_to_all"}


def derive(p, dt_ms, name="stdp_triplet"):
    out = {k: p[k] for k in R._fields}
    out.update(stdp_common(p, dt_ms, name))
    out["dx2"] = decay(p["tau_x_ms"], dt_ms, "tau_x_ms")
    out["dy2"] = decay(p["tau_y_ms"], dt_ms, "tau_y_ms")
    if out["soft"]:
        raise ValueError("stdp_triplet: only hard bounds are supported")
    return out


def triplet_threshold_hz(p):
    """The post rate (Hz) above which the triplet rule potentiates, for Poisson pre and post at rates much
    below 1/tau (Pfister & Gerstner 2006, the BCM link): a2_minus tau_minus / (a3_plus tau_plus tau_y),
    ignoring the a2_plus and a3_minus terms (zero in their minimal model)."""
    return p["a2_minus"] * p["tau_minus_ms"] * 1e3 / (p["a3_plus"] * p["tau_plus_ms"] * p["tau_y_ms"])


@njit(cache=True)
def pre_amp(pp, p, x2):
    return pp[p, R.a2_minus] + pp[p, R.a3_minus] * x2


@njit(cache=True)
def post_amp(pp, p, y2):
    return pp[p, R.a2_plus] + pp[p, R.a3_plus] * y2


register(LearningRule("stdp_triplet", dict(PARAMS), R, derive, pre_amp, post_amp, presets=TRIPLET_PRESETS,
                      reference="Pfister & Gerstner 2006"))
